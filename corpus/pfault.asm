; Page faults in long mode (4-level paging, CR0.WP, EFER.NXE): one fault for each bit of the error code,
; checked with CR2. At CPL 0: a not-present read (0) and write (W), a write to a read-only page (P|W),
; a fetch from an NX page (P|I/D) and from a not-present page (I/D), a reserved bit in a 2 MiB page
; entry (P|RSVD). At CPL 3 in compatibility mode: a supervisor page (P|U), a read-only page (P|W|U), a
; not-present page (U), an NX page (P|I/D|U). The handler records error code and CR2 and resumes with
; IRETQ. (KVM on PVM refuses paging outside long mode: CR0.PG with PAE and without EFER.LME is #GP.)
; KVM's in-kernel emulator cannot run the IRETQ (emulation failure); with --fallback emu the guest
; exits 0.
%include "guest.inc"
%include "sys.inc"
	bits 16
	org 0x7C00

%define PML4		0x10000
%define PDPT		0x11000
%define PD		0x12000
%define PT		0x13000
%define PG_NP		0x100000	; not present
%define PG_RO		0x101000	; read-only, user
%define PG_SV		0x102000	; supervisor, writable
%define PG_NX		0x103000	; no-execute, user, writable
%define RSVD_2M		0x200000	; 2 MiB page with a reserved bit (13)

%define ERR_P		1
%define ERR_W		2
%define ERR_U		4
%define ERR_RSVD	8
%define ERR_ID		16

; PF_TEST status, error code, CR2, instructions...: the instructions must fault with that error code and
; CR2 (status fails the error code, status + 1 the CR2); the handler resumes after them.
%macro PF_TEST 4-5
	mov dword [pf_resume], %%resume
	mov dword [pf_err], 0xFFFFFFFF
	%4
%if %0 > 4
	%5
%endif
	GUEST_EXIT %1 + 1
%%resume:
	EXPECT dword [pf_err], %2, %1
	EXPECT dword [pf_cr2], %3, %1 + 1
%endmacro

start:
	REAL_MODE_START
	mov si, msg_start
	call puts16
	ENTER_SYS_PM32 pm32

	DEFINE_PUTS puts16

	bits 32
pm32:
	PM32_SEGMENTS
	mov eax, 0x80000001
	cpuid
	test edx, 1 << 20
	jnz .nx
	GUEST_EXIT 1
.nx:
	; 4 KiB user pages over the first 2 MiB, the test pages, a 2 MiB page with a reserved bit
	mov edi, PML4
.clear:
	mov dword [edi], 0
	add edi, 4
	cmp edi, PT + 0x1000
	jne .clear
	mov dword [PML4], PDPT | 7
	mov dword [PDPT], PD | 7
	mov dword [PD], PT | 7
	mov dword [PD + 8], RSVD_2M | 0x87 | (1 << 13)
	xor ecx, ecx
.pte:
	mov eax, ecx
	shl eax, 12
	or eax, 7
	mov [PT + ecx * 8], eax
	inc ecx
	cmp ecx, 512
	jne .pte
	mov dword [PT + (PG_NP >> 12) * 8], 0
	mov dword [PT + (PG_RO >> 12) * 8], PG_RO | 5
	mov dword [PT + (PG_SV >> 12) * 8], PG_SV | 3
	mov dword [PT + (PG_NX >> 12) * 8 + 4], 0x80000000
	mov dword [PG_NX], 0xE666B090	; nop; mov al, 0x66; out 0xF4, al: a fetch that got through exits 0x66
	mov byte [PG_NX + 4], 0xF4
	mov eax, cr4
	or eax, 1 << 5
	mov cr4, eax
	mov eax, PML4
	mov cr3, eax
	mov ecx, 0xC0000080
	rdmsr
	or eax, (1 << 8) | (1 << 11)
	wrmsr
	mov eax, cr0
	or eax, (1 << 31) | (1 << 16)
	mov cr0, eax
	jmp SEL_CODE64:lm64

	bits 64
lm64:
	mov rsp, 0x7C00
	LM_SETUP unexpected
	LM_SET_GATE 14, pf_handler, 0
	LM_SET_GATE 6, ud_handler, 0
	PF_TEST 2, 0, PG_NP + 0x10, {mov eax, [PG_NP + 0x10]}
	PF_TEST 4, ERR_W, PG_NP + 0x24, {mov [PG_NP + 0x24], eax}
	PF_TEST 6, ERR_P | ERR_W, PG_RO + 0x8, {mov [PG_RO + 0x8], eax}
	PF_TEST 8, ERR_P | ERR_ID, PG_NX, {mov eax, PG_NX}, {jmp rax}
	PF_TEST 10, ERR_ID, PG_NP + 0x40, {mov eax, PG_NP + 0x40}, {jmp rax}
	PF_TEST 12, ERR_P | ERR_RSVD, RSVD_2M + 0x123, {mov eax, [RSVD_2M + 0x123]}
	mov eax, [PG_SV]		; supervisor reads of the other test pages work
	mov eax, [PG_NX]
	mov eax, [PG_RO]
	; IRETQ to ring 3, compatibility mode
	push qword SEL_DATA3
	push qword STACK3
	push qword 0x3002
	push qword SEL_CODE3
	push qword ring3
	iretq

	bits 32
ring3:
	mov ax, SEL_DATA3		; IRETQ nulled the DPL 0 data segments
	mov ds, ax
	mov es, ax
	mov eax, [PG_RO]		; user reads of user pages work
	mov [PG_NX + 8], eax
	PF_TEST 14, ERR_P | ERR_U, PG_SV + 0x4, {mov eax, [PG_SV + 0x4]}
	PF_TEST 16, ERR_P | ERR_W | ERR_U, PG_RO + 0xC, {mov [PG_RO + 0xC], eax}
	PF_TEST 18, ERR_U, PG_NP, {mov eax, [PG_NP]}
	PF_TEST 20, ERR_P | ERR_ID | ERR_U, PG_NX, {mov eax, PG_NX}, {jmp eax}
	EXPECT dword [pf_count], 10, 22
	ud2				; back to ring 0

	bits 64
ud_handler:
	EXPECT qword [rsp + 8], SEL_CODE3, 23
	mov esi, msg_ok
	call puts64
	GUEST_EXIT 0

pf_handler:
	pop qword [pf_err]
	push rax
	mov rax, cr2
	mov [pf_cr2], eax
	mov eax, [pf_resume]
	mov [rsp + 8], rax
	inc dword [pf_count]
	pop rax
	iretq

unexpected:
	GUEST_EXIT 0x7F

	DEFINE_PUTS puts64
	DEFINE_LM_HELPERS

	DEFINE_SYS_GDT unexpected
	DEFINE_SYS_IDT_DESC
align 8
pf_err:		dq 0
pf_cr2:		dd 0
pf_resume:	dd 0
pf_count:	dd 0
msg_start:	db "pfault: page faults next", 13, 10, 0
msg_ok:		db "pfault: ok", 13, 10, 0
