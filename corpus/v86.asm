; Virtual-8086 mode: IRETD from ring 0 with VM=1 enters V86 (segments loaded as real-mode style
; selector * 16, IOPL 3); V86 code addresses memory through them; INT n (IOPL 3) goes through the IDT to
; ring 0 with the V86 frame (GS, FS, DS, ES saved, the data segments nulled) and IRETD returns to V86;
; UD2 leaves V86 through #UD the same way. KVM's in-kernel emulator cannot run the IRETD (emulation
; failure); recorded with --fallback emu the guest exits 0, or 30 when the reference raises #UD for
; INT n in V86 instead of taking the gate, or 31 on a #GP, which V86 code here never raises (KVM on PVM
; drops EFLAGS.VM and runs the code as 16-bit protected mode at CPL 3).
%include "guest.inc"
%include "sys.inc"
	bits 16
	org 0x7C00

%define V86_DS	0x0900		; data at 0x9000 + offsets (0x1000 is the IDT)
%define V86_ES	0x0200
%define V86_SS	0x0000
%define V86_SP	0x7000
%define VM	0x20000

start:
	REAL_MODE_START
	mov si, msg_start
	call puts16
	ENTER_SYS_PM32 pm32

	DEFINE_PUTS puts16

	bits 32
pm32:
	SYS_SETUP unexpected
	SET_GATE 6, ud_handler, 0
	SET_GATE 0x41, int41, 3
	SET_GATE 13, gp_handler, 0
	mov dword [0x2000 + 0x10], 0x11223344
	push dword 0x0300		; GS
	push dword 0x0400		; FS
	push dword V86_DS
	push dword V86_ES
	push dword V86_SS
	push dword V86_SP
	push dword VM | 0x3002
	push dword 0			; CS
	push dword ABS(v86_code)
	iretd

; The ring-0 side of an event from V86: EIP CS EFLAGS ESP SS ES DS FS GS on the TSS's ring-0 stack.
%macro CHECK_V86_FRAME 1
	mov ax, ds
	EXPECT ax, 0, %1
	mov ax, gs
	EXPECT ax, 0, %1 + 1
	mov ax, SEL_DATA0
	mov ds, ax
	mov es, ax
	EXPECT esp, STACK0 - 36, %1 + 2
	EXPECT dword [esp + 4], 0, %1 + 3
	mov eax, [esp + 8]
	and eax, VM | 0x3000
	EXPECT eax, VM | 0x3000, %1 + 4
	EXPECT dword [esp + 16], V86_SS, %1 + 5
	EXPECT dword [esp + 20], V86_ES, %1 + 6
	EXPECT dword [esp + 24], V86_DS, %1 + 7
	EXPECT dword [esp + 28], 0x0400, %1 + 8
	EXPECT dword [esp + 32], 0x0300, %1 + 9
%endmacro

int41:
	CHECK_V86_FRAME 1
	EXPECT dword [esp], ABS(v86_int.ret), 11
	EXPECT dword [esp + 12], V86_SP - 2, 12	; the word pushed at 0x6FFE is still there
	mov dword [int41_ran], 1
	iretd

ud_handler:
	cmp dword [esp], ABS(v86_int)	; through SS: leaving V86 nulled DS
	je int_refused
	CHECK_V86_FRAME 20
	EXPECT dword [esp], ABS(v86_ud), 31
	EXPECT dword [esp + 12], V86_SP - 2, 32
	EXPECT dword [int41_ran], 1, 33
	EXPECT dword [0x2000 + 0x20], 0x11223344, 34
	EXPECT word [0x9000 + 0x30], V86_DS, 35
	EXPECT word [0x6FFE], 0x7788, 36
	EXPECT bl, 0, 37
	mov esi, msg_ok
	call puts32
	GUEST_EXIT 0

int_refused:
	mov ax, SEL_DATA0
	mov ds, ax
	mov esi, msg_int
	call puts32
	GUEST_EXIT 30

gp_handler:
	mov ax, SEL_DATA0
	mov ds, ax
	mov esi, msg_gp
	call puts32
	GUEST_EXIT 31

unexpected:
	GUEST_EXIT 0x7F

	DEFINE_PUTS puts32

	bits 16
v86_code:
	; segment registers are selectors * 16, addressed as in real mode
	mov bl, 1
	mov ax, ds
	cmp ax, V86_DS
	jne v86_ud
	mov ax, cs
	test ax, ax
	jnz v86_ud
	mov eax, [es:0x10]		; linear 0x2010
	mov [es:0x20], eax
	mov [0x30], ds			; linear 0x9030
	push word 0x7788		; linear 0x6FFE
	pushf
	pop ax
	and ax, 0x3000
	cmp ax, 0x3000
	jne v86_ud
	mov bl, 0
v86_int:
	int 0x41
.ret:
	pop ax
	push ax
	cmp ax, 0x7788
	je v86_ud
	mov bl, 2
v86_ud:
	ud2

	DEFINE_SYS_GDT unexpected
	DEFINE_SYS_IDT_DESC
int41_ran:	dd 0
msg_start:	db "v86: iretd to virtual-8086 mode next", 13, 10, 0
msg_int:	db "v86: #UD on int n in virtual-8086 mode", 13, 10, 0
msg_gp:		db "v86: #GP: not in virtual-8086 mode", 13, 10, 0
msg_ok:		db "v86: ok", 13, 10, 0
