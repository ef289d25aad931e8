; Real-mode interrupts through the IVT: int 0x30 (handler edits the flags image, iret),
; a handler ending in retf 2, nested int, int3 (both encodings), into, and faults whose
; handlers fix up and return: #DE (divide by zero and quotient overflow), #UD (ud2),
; #GP (offset past the 64 KiB limit).
%include "guest.inc"
	bits 16
	org 0x7C00

start:
	REAL_MODE_START
	SET_IVT 0, de_handler
	SET_IVT 3, bp_handler
	SET_IVT 4, of_handler
	SET_IVT 6, ud_handler
	SET_IVT 13, gp_handler
	SET_IVT 0x30, int30_handler
	SET_IVT 0x31, int31_handler
	SET_IVT 0x32, int32_handler

	; int 0x30 doubles ax, sees IF clear, sets CF in the flags image; iret restores IF
	mov ax, 21
	clc
	sti
	int 0x30
	pushf
	cli
	jnc .fail_cf
	EXPECT ax, 42, 1
	EXPECT byte [if_in_handler], 0, 2
	pop bx
	test bx, 0x0200
	jz .fail_if

	; retf 2 returns with the handler's flags: CF set, IF still clear
	clc
	sti
	int 0x31
	pushf
	pop bx
	cli
	jnc .fail_cf
	test bx, 0x0200
	jnz .fail_if
	EXPECT dx, 0x3131, 3

	; nested: int 0x32 calls int 0x30 twice
	mov ax, 5
	int 0x32
	EXPECT ax, 20, 4

	; int3 in both encodings and into with OF set and clear
	int3
	int 3
	EXPECT word [bp_count], 2, 5
	mov al, 0x7F
	add al, 1
	into
	xor al, al
	into
	EXPECT word [of_count], 1, 6

	; #DE on divide by zero: the handler loads a divisor and the div runs again
	mov byte [de_fix], 5
	mov ax, 100
	xor bl, bl
	div bl
	EXPECT al, 20, 7
	; #DE on quotient overflow: 0x1000 / 2 does not fit in al
	mov byte [de_fix], 0x20
	mov ax, 0x1000
	mov bl, 2
	div bl
	EXPECT al, 0x80, 8
	EXPECT word [de_count], 2, 9

	; #UD: the handler steps over the 2-byte ud2
	mov byte [ud_count], 0
	ud2
	EXPECT byte [ud_count], 1, 10

	; #GP: a 32-bit offset past the real-mode limit; the handler skips the instruction
	mov byte [gp_skip], .gp_end - .gp_insn
	mov eax, 0x11111111
.gp_insn:
	mov eax, [dword 0x500000]
.gp_end:
	EXPECT eax, 0x11111111, 11
	EXPECT byte [gp_count], 1, 12

	mov si, msg_ok
	call puts
	GUEST_EXIT 0

.fail_cf:
	GUEST_EXIT 20
.fail_if:
	GUEST_EXIT 21

int30_handler:
	push bp
	mov bp, sp
	push bx
	pushf
	pop bx
	and bx, 0x0200
	mov [if_in_handler], bl
	shl ax, 1
	or word [bp + 6], 1		; CF in the interrupted flags
	pop bx
	pop bp
	iret

int31_handler:
	mov dx, 0x3131
	stc
	retf 2

int32_handler:
	int 0x30
	int 0x30
	iret

bp_handler:
	inc word [bp_count]
	iret

of_handler:
	inc word [of_count]
	iret

; #DE returns to the div itself: give it a divisor that works.
de_handler:
	inc word [de_count]
	mov bl, [de_fix]
	iret

ud_handler:
	push bp
	mov bp, sp
	add word [bp + 2], 2
	inc byte [ud_count]
	pop bp
	iret

gp_handler:
	push bp
	mov bp, sp
	push ax
	movzx ax, byte [gp_skip]
	add [bp + 2], ax
	inc byte [gp_count]
	pop ax
	pop bp
	iret

	DEFINE_PUTS puts

if_in_handler:	db 0xFF
bp_count:	dw 0
of_count:	dw 0
de_count:	dw 0
de_fix:		db 0
ud_count:	db 0
gp_skip:	db 0
gp_count:	db 0
msg_ok:		db "realint: ok", 13, 10, 0
