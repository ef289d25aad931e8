; x87 and SSE arithmetic in real mode, 32-bit protected mode and long mode: the same checks in each,
; results compared bit for bit with values computed by hand (exit status: the failing check, 0 when all
; pass). x87: FADD/FMUL/FDIV/FSQRT/FSUBR, FILD/FISTP (round to nearest even), FCOMI, FPREM, FRNDINT with
; rounding control, FXAM; SSE/SSE2: ADDSD/MULSD/DIVSD/SQRTSD, CVTSI2SD/CVTTSD2SI, ADDPS, MINPD, UCOMISD,
; PCMPEQB/PMOVMSKB, PSHUFD, PADDW, MXCSR rounding and its precision flag.
%include "guest.inc"
	bits 16
	org 0x7C00

; %1: the first check's exit status; a failing check ends the run with its number (some through AL at the
; kernel's end, 0 there on success). Memory operands are absolute (below 64 KiB), so the same text assembles in every mode.
%macro FP_KERNEL 1
	fninit
	; (1.5 + 2.25) * 4 = 15, stored as a double
	fld qword [k_1_5]
	fadd qword [k_2_25]
	fmul dword [k_4f]
	fstp qword [scratch]
	CHECK64 scratch, k_15, %1 + 0
	; sqrt(2.25) = 1.5; 1/3 rounded to a double; 10 - 2.5 by FSUBR
	fld qword [k_2_25]
	fsqrt
	fstp qword [scratch]
	CHECK64 scratch, k_1_5, %1 + 1
	fld1
	fidiv word [k_3w]
	fstp qword [scratch]
	CHECK64 scratch, k_third, %1 + 2
	fld qword [k_2_5]
	fisubr word [k_10w]
	fistp dword [scratch]
	CHECK32 scratch, k_8d, %1 + 3
	; FISTP of 7.5 and 6.5: nearest even, 8 and 6
	fld qword [k_7_5]
	fistp word [scratch]
	CHECK16 scratch, k_8d, %1 + 4
	fld qword [k_6_5]
	fistp word [scratch]
	CHECK16 scratch, k_6d, %1 + 5
	; FCOMI: 2.25 > 1.5 clears CF and ZF
	fld qword [k_1_5]
	fld qword [k_2_25]
	fcomip st0, st1
	jbe %%fail6
	fstp st0
	; FPREM: 15 mod 4 = 3, C2 clear (complete)
	fld dword [k_4f]
	fld qword [k_15]
	fprem
	fstsw ax
	test ah, 4
	jnz %%fail7
	fistp dword [scratch]
	fstp st0
	CHECK32 scratch, k_3d, %1 + 8
	; FRNDINT of 2.5 rounding up (RC=10b): 3
	fldcw [cw_up]
	fld qword [k_2_5]
	frndint
	fistp dword [scratch]
	fldcw [cw_near]
	CHECK32 scratch, k_3d, %1 + 9
	; FXAM of +0: C3 set, C2 and C0 clear
	fldz
	fxam
	fstsw ax
	fstp st0
	and ah, 0x45
	cmp ah, 0x40
	jne %%fail10
	; SSE2 scalar: (1.5 + 2.25) * 4 / 2 = 7.5, sqrt(2.25) = 1.5, truncated 7.5 = 7
	movsd xmm0, [k_1_5]
	addsd xmm0, [k_2_25]
	mulsd xmm0, [k_4d]
	divsd xmm0, [k_2d]
	ucomisd xmm0, [k_7_5]
	jne %%fail11
	jp %%fail11
	sqrtsd xmm1, [k_2_25]
	movsd [scratch], xmm1
	CHECK64 scratch, k_1_5, %1 + 12
	cvttsd2si eax, xmm0
	cmp eax, 7
	jne %%fail13
	mov eax, -3
	cvtsi2sd xmm2, eax
	minpd xmm2, [k_pair]
	movsd [scratch], xmm2
	CHECK64 scratch, k_m3, %1 + 14
	; MXCSR round up: 1/3 as a float rounds up to 0x3eaaaaab, and PE is set
	ldmxcsr [mx_up]
	movss xmm3, [k_1f]
	divss xmm3, [k_3f]
	movss [scratch], xmm3
	stmxcsr [scratch + 4]
	ldmxcsr [mx_near]
	CHECK32 scratch, k_third_up, %1 + 15
	mov eax, [scratch + 4]
	test al, 0x20
	jz %%fail16
	; ADDPS lane by lane
	movups xmm4, [v_a]
	addps xmm4, [v_b]
	movups [scratch], xmm4
	CHECK64 scratch, v_sum, %1 + 17
	CHECK64 scratch + 8, v_sum + 8, %1 + 18
	; PCMPEQB/PMOVMSKB, PSHUFD, PADDW
	movdqu xmm5, [v_bytes]
	movdqu xmm6, [v_bytes2]
	pcmpeqb xmm5, xmm6
	pmovmskb eax, xmm5
	cmp eax, 0x00ff
	jne %%fail19
	pshufd xmm7, [v_words], 0x1b
	paddw xmm7, [v_words]
	movdqu [scratch], xmm7
	CHECK64 scratch, v_wsum, %1 + 20
	xor al, al
	jmp %%done
%%fail6:
	mov al, %1 + 6
	jmp %%done
%%fail7:
	mov al, %1 + 7
	jmp %%done
%%fail10:
	mov al, %1 + 10
	jmp %%done
%%fail11:
	mov al, %1 + 11
	jmp %%done
%%fail13:
	mov al, %1 + 13
	jmp %%done
%%fail16:
	mov al, %1 + 16
	jmp %%done
%%fail19:
	mov al, %1 + 19
%%done:
%endmacro

; Compares 8, 4 or 2 bytes at memory %1 with %2; on a difference AL = %3 and the kernel ends.
%macro CHECK64 3
	mov eax, [%1]
	cmp eax, [%2]
	jne %%bad
	mov eax, [%1 + 4]
	cmp eax, [%2 + 4]
	je %%ok
%%bad:
	GUEST_EXIT %3
%%ok:
%endmacro
%macro CHECK32 3
	mov eax, [%1]
	cmp eax, [%2]
	je %%ok
	GUEST_EXIT %3
%%ok:
%endmacro
%macro CHECK16 3
	mov ax, [%1]
	cmp ax, [%2]
	je %%ok
	GUEST_EXIT %3
%%ok:
%endmacro

start:
	REAL_MODE_START
	; x87 native (NE), SSE enabled with its exceptions (OSFXSR, OSXMMEXCPT), EM clear, MP set
	mov eax, cr0
	and eax, ~(1 << 2)
	or eax, (1 << 1) | (1 << 5)
	mov cr0, eax
	mov eax, cr4
	or eax, (1 << 9) | (1 << 10)
	mov cr4, eax
	FP_KERNEL 10
	test al, al
	jz .real_ok
	out EXIT_PORT, al
	hlt
.real_ok:
	mov si, msg_real
	call puts16
	ENTER_PM32 pm32

	DEFINE_PUTS puts16

	bits 32
pm32:
	PM32_SEGMENTS
	FP_KERNEL 40
	test al, al
	jz .pm_ok
	out EXIT_PORT, al
	hlt
.pm_ok:
	mov esi, msg_pm32
	call puts32
	mov eax, cr4
	or eax, 1 << 5
	mov cr4, eax
	mov eax, pml4
	mov cr3, eax
	mov ecx, 0xC0000080
	rdmsr
	or eax, 1 << 8
	wrmsr
	mov eax, cr0
	or eax, 1 << 31
	mov cr0, eax
	jmp SEL_CODE64:lm64

	DEFINE_PUTS puts32

	bits 64
lm64:
	mov rsp, 0x7C00
	FP_KERNEL 70
	test al, al
	jz .lm_ok
	out EXIT_PORT, al
	hlt
.lm_ok:
	mov esi, msg_done
	call puts64
	GUEST_EXIT 0

	DEFINE_PUTS puts64

	DEFINE_FLAT_GDT
msg_real:	db "fparith: real", 13, 10, 0
msg_pm32:	db "fparith: pm32", 13, 10, 0
msg_done:	db "fparith: long", 13, 10, "fparith: ok", 13, 10, 0

align 16
k_1_5:		dq 1.5
k_2_25:		dq 2.25
k_2_5:		dq 2.5
k_7_5:		dq 7.5
k_6_5:		dq 6.5
k_15:		dq 15.0
k_4d:		dq 4.0
k_2d:		dq 2.0
k_m3:		dq -3.0
align 16
k_pair:		dq -3.0, 1.0
k_third:	dq 0x3FD5555555555555
k_4f:		dd 4.0
k_1f:		dd 1.0
k_3f:		dd 3.0
k_third_up:	dd 0x3EAAAAAB
k_8d:		dd 8
k_6d:		dd 6
k_3d:		dd 3
k_3w:		dw 3
k_10w:		dw 10
cw_up:		dw 0x0B7F
cw_near:	dw 0x037F
mx_up:		dd 0x5F80
mx_near:	dd 0x1F80
align 16
v_a:		dd 1.0, 2.0, 3.0, 4.0
v_b:		dd 0.5, 0.25, -3.0, 4.0
v_sum:		dd 1.5, 2.25, 0.0, 8.0
v_bytes:	db 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16
v_bytes2:	db 1, 2, 3, 4, 5, 6, 7, 8, 0, 0, 0, 0, 0, 0, 0, 0
v_words:	dw 1, 2, 3, 4, 5, 6, 7, 8
v_wsum:		dw 8, 10, 8, 10
align 16
scratch:	times 16 db 0

; Identity map of the first 4 MiB with 2 MiB pages, page-aligned by hand.
	times (0x1000 - ($ - $$ + 0x7C00) % 0x1000) % 0x1000 db 0
pml4:	dq pdpt + 3
	times 511 dq 0
pdpt:	dq pd + 3
	times 511 dq 0
pd:	dq 0x000083
	dq 0x200083
	times 510 dq 0
