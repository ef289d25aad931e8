; Long mode at CPL 0: MOV SS then SYSCALL (STAR, LSTAR, SFMASK; RCX, R11), the handler returns with IRETQ
; to the same privilege; MOV SS then INT3 and INT n through 64-bit interrupt gates, returning with
; IRETQ; then IRETQ to ring 3 in compatibility mode with DS/ES/FS/GS holding a DPL 0 segment (nulled) and
; UD2 back to ring 0. KVM's emulator cannot run INT3 or INT n here (emulation failure); with --fallback
; emu the guest goes on. KVM on PVM runs IRETQ itself and returns to ring 3 with the DPL 0 data
; segments kept and IOPL 0: the guest then exits 20 (DS not nulled), where silicon exits 0.
%include "guest.inc"
%include "sys.inc"
	bits 16
	org 0x7C00

%define PML4		0x10000
%define PDPT		0x11000
%define PD		0x12000
%define SFMASK_BITS	0x4700		; NT, DF, IF, TF
%define MSR_EFER	0xC0000080
%define MSR_STAR	0xC0000081
%define MSR_LSTAR	0xC0000082
%define MSR_SFMASK	0xC0000084

start:
	REAL_MODE_START
	mov si, msg_start
	call puts16
	ENTER_SYS_PM32 pm32

	DEFINE_PUTS puts16

	bits 32
pm32:
	PM32_SEGMENTS
	; identity map of the first 4 MiB, 2 MiB user pages
	mov edi, PML4
.clear:
	mov dword [edi], 0
	add edi, 4
	cmp edi, PD + 0x1000
	jne .clear
	mov dword [PML4], PDPT | 7
	mov dword [PDPT], PD | 7
	mov dword [PD], 0x000087
	mov dword [PD + 8], 0x200087
	mov eax, cr4
	or eax, 1 << 5
	mov cr4, eax
	mov eax, PML4
	mov cr3, eax
	mov ecx, MSR_EFER
	rdmsr
	or eax, (1 << 8) | 1		; LME, SCE
	wrmsr
	mov eax, cr0
	or eax, 1 << 31
	mov cr0, eax
	jmp SEL_CODE64:lm64

	bits 64
lm64:
	mov rsp, 0x7C00
	LM_SETUP unexpected
	LM_SET_GATE 3, int3_handler, 0
	LM_SET_GATE 0x40, int40_handler, 0
	LM_SET_GATE 6, ud_handler, 0
	; SYSCALL: CS = STAR[47:32], SS = that + 8; RIP = LSTAR; RFLAGS &= ~SFMASK
	mov ecx, MSR_STAR
	xor eax, eax
	mov edx, SEL_CODE64
	wrmsr
	mov ecx, MSR_LSTAR
	mov rax, syscall_handler
	mov rdx, rax
	shr rdx, 32
	wrmsr
	mov ecx, MSR_SFMASK
	mov eax, SFMASK_BITS
	xor edx, edx
	wrmsr
	; MOV SS then SYSCALL, with DF set (masked) and CF set (kept)
	mov ax, SEL_DATA0
	std
	stc
	mov rbx, rsp
	mov ss, ax
	syscall
.sysret_here:
	cld
	EXPECT rsp, rbx, 1
	EXPECT r12, .sysret_here, 2
	mov rax, r13
	and eax, SFMASK_BITS | 1
	EXPECT eax, 0x401, 3		; R11 had DF and CF
	mov rax, r14
	and eax, SFMASK_BITS | 1
	EXPECT eax, 1, 4		; the handler ran with DF clear, CF kept
	EXPECT r15, SEL_CODE64 | (SEL_DATA0B << 16), 5
	mov ax, ss
	EXPECT ax, SEL_DATA0, 6

	; MOV SS then INT3, MOV SS then INT n, each returning with IRETQ
	mov ax, SEL_DATA0
	mov rbx, rsp
	mov ss, ax
	int3
.int3_ret:
	EXPECT qword [int3_rip], .int3_ret, 7
	EXPECT rsp, rbx, 8
	mov ss, ax
	int 0x40
.int40_ret:
	EXPECT qword [int40_rip], .int40_ret, 9
	EXPECT rsp, rbx, 10

	; IRETQ to ring 3 (compatibility mode): the DPL 0 data segments are nulled
	mov ax, SEL_DATA0
	mov ds, ax
	mov es, ax
	mov fs, ax
	mov gs, ax
	push qword SEL_DATA3
	push qword STACK3
	push qword 0x3002
	push qword SEL_CODE3
	push qword ring3
	iretq

syscall_handler:
	mov r12, rcx
	mov r13, r11
	pushfq
	pop r14
	xor eax, eax
	mov ax, ss
	shl eax, 16
	mov r15d, eax
	xor eax, eax
	mov ax, cs
	or r15d, eax
	; back with IRETQ to the same privilege
	push qword SEL_DATA0
	lea rax, [rsp + 8]
	push rax
	push r11
	push qword SEL_CODE64
	push rcx
	iretq

int3_handler:
	mov rcx, [rsp]
	mov [int3_rip], rcx
	iretq

int40_handler:
	mov rcx, [rsp]
	mov [int40_rip], rcx
	iretq

	bits 32
; Ring 3 has no I/O here (KVM on PVM returns with IOPL 0): a failed check leaves its status in BL for
; the #UD handler.
%macro EXPECT3 3
	mov bl, %3
	cmp %1, %2
	jne ring3_done
%endmacro
ring3:
	mov ax, ds
	EXPECT3 ax, 0, 20
	mov ax, es
	EXPECT3 ax, 0, 21
	mov ax, fs
	EXPECT3 ax, 0, 22
	mov ax, gs
	EXPECT3 ax, 0, 23
	mov ax, ss
	EXPECT3 ax, SEL_DATA3, 24
	EXPECT3 esp, STACK3, 25
	pushfd
	pop eax
	and eax, 0x3000
	EXPECT3 eax, 0x3000, 26
	mov bl, 0
ring3_done:
	ud2				; back to ring 0

	bits 64
ud_handler:
	mov ax, SEL_DATA0
	mov ds, ax
	mov es, ax
	test bl, bl
	jz .checks
	mov esi, msg_ring3
	call puts64
	movzx eax, bl
	out EXIT_PORT, al
	GUEST_EXIT 0x7E
.checks:
	EXPECT qword [rsp + 8], SEL_CODE3, 27
	EXPECT qword [rsp + 24], STACK3, 28
	mov esi, msg_ok
	call puts64
	GUEST_EXIT 0

unexpected:
	GUEST_EXIT 0x7F

	DEFINE_PUTS puts64
	DEFINE_LM_HELPERS

	DEFINE_SYS_GDT unexpected
	DEFINE_SYS_IDT_DESC
align 8
int3_rip:	dq 0
int40_rip:	dq 0
msg_start:	db "longsys: long mode next", 13, 10, 0
msg_ring3:	db "longsys: ring 3 check failed", 13, 10, 0
msg_ok:		db "longsys: ok", 13, 10, 0
