; Instructions silicon runs in real mode that KVM's in-kernel emulator on a PVM host cannot:
; daa, aaa, aas, bound (in range), popcnt, movbe, crc32, x87 fld1/fistp, SSE pxor/movd.
; On KVM it stops at the first (daa: emulation failure); when a fallback executes each
; one, every result is checked and the guest exits 0. popcnt, movbe and crc32 exist only
; where the CPU model has them: #UD is accepted for those three (on PVM hosts the guest's
; CPUID shows MOVBE while KVM's emulator raises #UD for it, so CPUID cannot decide).
%include "guest.inc"
	bits 16
	org 0x7C00

; GATED resume: the next instruction may raise #UD; the handler then resumes at `resume`.
%macro GATED 1
	mov word [ud_resume], %1
	mov byte [ud_armed], 1
%endmacro

start:
	REAL_MODE_START
	mov si, msg_start
	call puts

	; BCD adjusts
	mov al, 0x19
	add al, 0x28
	daa
	EXPECT al, 0x47, 1
	mov ax, 0x0009
	add al, 0x08
	aaa
	EXPECT ax, 0x0107, 2
	mov ax, 0x0102
	sub al, 0x05
	aas
	EXPECT ax, 0x0007, 3

	; bound with the index inside the bounds: no #BR
	mov ax, 5
	bound ax, [bounds]

	; bit count, byte-swapping load, CRC-32C
	mov word [6 * 4], ud_handler
	mov word [6 * 4 + 2], 0
	GATED ud_popcnt
	mov bx, 0xF0F1
	popcnt ax, bx
	EXPECT ax, 9, 4
ud_popcnt:
	GATED ud_movbe
	movbe eax, [be_word]
	EXPECT eax, 0x78563412, 5
ud_movbe:
	GATED ud_crc32
	xor eax, eax
	mov bl, 0x61
	crc32 eax, bl
	EXPECT eax, 0x93AD1061, 6	; crc32c of the byte 0x61 from 0, no final inversion
ud_crc32:
	mov byte [ud_armed], 0

	; x87 and SSE with CR0.EM clear, CR0.MP and CR4.OSFXSR set
	mov eax, cr0
	and eax, ~(1 << 2)
	or eax, 1 << 1
	mov cr0, eax
	mov eax, cr4
	or eax, 1 << 9
	mov cr4, eax
	fninit
	fld1
	fistp word [fpu_out]
	EXPECT word [fpu_out], 1, 7
	mov eax, 0x12345678
	movd xmm0, eax
	pxor xmm1, xmm1
	pxor xmm1, xmm0
	movd ebx, xmm1
	EXPECT ebx, 0x12345678, 8

	mov si, msg_ok
	call puts
	GUEST_EXIT 0

	DEFINE_PUTS puts

; #UD: accepted only while armed by GATED; resumes after the gated instruction's check.
ud_handler:
	cmp byte [cs:ud_armed], 1
	je .expected
	GUEST_EXIT 14
.expected:
	mov byte [cs:ud_armed], 0
	push bp
	mov bp, sp
	push ax
	mov ax, [cs:ud_resume]
	mov [bp + 2], ax
	pop ax
	pop bp
	iret

bounds:		dw 0, 10
be_word:	db 0x78, 0x56, 0x34, 0x12
fpu_out:	dw 0
ud_resume:	dw 0
ud_armed:	db 0
msg_start:	db "kvmgaps: daa next", 13, 10, 0
msg_ok:		db "kvmgaps: ok", 13, 10, 0
