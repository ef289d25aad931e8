; Triple fault: 32-bit protected mode with a zero-limit IDT, then ud2. #UD finds no IDT
; entry (#GP), #GP finds none (#DF), #DF finds none: shutdown. No exit port write.
%include "guest.inc"
	bits 16
	org 0x7C00

start:
	REAL_MODE_START
	mov si, msg_start
	call puts16
	ENTER_PM32 pm32

	DEFINE_PUTS puts16

	bits 32
pm32:
	PM32_SEGMENTS
	lidt [idt_empty]
	mov al, 0x3F
	out POST_PORT, al
	ud2
	; never reached: a status that would tell the fault was lost
	GUEST_EXIT 1

	DEFINE_FLAT_GDT
idt_empty:
	dw 0
	dd 0
msg_start:	db "triple: faulting", 13, 10, 0
