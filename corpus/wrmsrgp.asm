; WRMSR the reference refuses and WRMSR it takes, in real mode: an MSR no CPU has (0x12345678) raises #GP
; on WRMSR and on RDMSR, the handler counting and stepping over the 2-byte instruction; IA32_MISC_ENABLE
; read and written back unchanged raises nothing. A replay must raise #GP at the first WRMSR only.
%include "guest.inc"
	bits 16
	org 0x7C00

%define MSR_ABSENT	0x12345678
%define MSR_MISC_ENABLE	0x1A0

start:
	REAL_MODE_START
	SET_IVT 13, gp_handler

	mov ecx, MSR_ABSENT
	mov eax, 0x1234
	xor edx, edx
	wrmsr
	EXPECT word [gp_count], 1, 1
	rdmsr
	EXPECT word [gp_count], 2, 2
	mov ecx, MSR_MISC_ENABLE
	rdmsr
	wrmsr
	EXPECT word [gp_count], 2, 3
	mov si, msg_ok
	call puts16
	GUEST_EXIT 0

; #GP: count, and return past the faulting 2-byte WRMSR/RDMSR.
gp_handler:
	inc word [gp_count]
	push bp
	mov bp, sp
	add word [bp + 2], 2
	pop bp
	iret

	DEFINE_PUTS puts16

gp_count:	dw 0
msg_ok:		db "wrmsrgp: ok", 13, 10, 0
