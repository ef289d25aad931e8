; Interrupt shadows in real mode: mov ss / pop ss followed by an instruction, back-to-back
; mov ss, sti; nop, sti; cli, popf setting IF. Guest TF across mov ss is in tfstep.asm.
; No interrupt source exists and hlt is never run with IF=1.
%include "guest.inc"
	bits 16
	org 0x7C00

%define ALT_SS		0x2000		; second stack at 0x20000

start:
	REAL_MODE_START
	SET_IVT 0x31, int31_handler

	; the classic stack switch: mov ss shadows the mov sp after it
	mov ax, ALT_SS
	mov ss, ax
	mov sp, 0x1000
	push word 0x1234
	mov es, ax
	EXPECT word [es:0x0FFE], 0x1234, 1
	xor ax, ax
	mov es, ax
	pop bx
	EXPECT bx, 0x1234, 2

	; pop ss shadows the mov sp after it
	push word 0
	pop ss
	mov sp, 0x7C00
	mov ax, ss
	EXPECT ax, 0, 3
	EXPECT sp, 0x7C00, 4

	; mov ss twice in a row, then from memory, then pop ss followed by pop ss
	mov ax, ALT_SS
	mov ss, ax
	mov ss, ax
	mov sp, 0x2000
	mov ss, [zero_word]
	mov sp, 0x7C00
	push word 0
	push word ALT_SS
	pop ss
	pop ss			; pops from ALT_SS:0x7BFE, which holds nothing we pushed
	mov sp, 0x7C00
	xor ax, ax
	mov ss, ax
	mov sp, 0x7C00

	; a software interrupt right after mov ss is still taken
	mov ax, ALT_SS
	mov ss, ax
	int 0x31
	mov bx, ss
	EXPECT bx, ALT_SS, 5
	EXPECT cx, 0x3131, 6
	xor ax, ax
	mov ss, ax
	mov sp, 0x7C00

	; sti shadows: IF set from 0, then cleared at once
	sti
	nop
	cli
	sti
	cli
	sti
	sti
	cli
	mov ax, ss
	mov ss, ax
	sti
	cli
	pushf
	pop ax
	and ax, 0x0300
	EXPECT ax, 0, 7

	; popf setting IF (no shadow), then mov ss followed by popf
	push word 0x0202
	popf
	cli
	push word 0x0002
	mov ax, ss
	mov ss, ax
	popf
	pushf
	pop ax
	and ax, 0x0300
	EXPECT ax, 0, 8

	mov si, msg_ok
	call puts
	GUEST_EXIT 0

int31_handler:
	mov cx, 0x3131
	iret

	DEFINE_PUTS puts

zero_word:	dw 0
msg_ok:		db "shadow: ok", 13, 10, 0
