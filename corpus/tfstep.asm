; Guest single-step: TF set by popf over nop, mov ss, pop ss and mov ss from memory; the #DB
; handler (IVT vector 1) logs each return IP, the guest prints the log. Silicon suppresses the
; trap after mov ss / pop ss (the shadow covers the next instruction); exits 9 if no #DB came.
%include "guest.inc"
	bits 16
	org 0x7C00

%define DB_LOG		0x0600		; #DB return IPs logged here
%define DB_LOG_MAX	32

start:
	REAL_MODE_START
	SET_IVT 1, db_handler

	; guest single-step (TF) across mov ss and pop ss: each #DB logs its return IP
	xor ax, ax
	mov word [db_count], 0
	pushf
	mov bp, sp
	or word [bp], 0x0100
	popf
	nop
	mov ss, ax
	nop
	nop
	push ss
	pop ss
	inc ax
	mov ss, [zero_word]
	dec ax
	pushf
	mov bp, sp
	and word [bp], ~0x0100
	popf
	nop
	mov ax, [db_count]
	test ax, ax
	jnz .traps_seen
	GUEST_EXIT 9		; TF set but no #DB was delivered
.traps_seen:
	mov si, msg_db
	call puts
	mov ax, [db_count]
	call puthex
	mov si, msg_ips
	call puts
	mov di, DB_LOG
	mov bp, [db_count]
	cmp bp, DB_LOG_MAX
	jbe .print
	mov bp, DB_LOG_MAX
.print:
	mov ax, [di]
	call puthex
	mov si, msg_sp
	call puts
	add di, 2
	dec bp
	jnz .print
	mov si, msg_ok
	call puts
	GUEST_EXIT 0

; #DB: logs the return IP; iret keeps TF as the flags image has it.
db_handler:
	push bp
	push bx
	mov bp, sp
	mov bx, [db_count]
	cmp bx, DB_LOG_MAX
	jae .full
	shl bx, 1
	push ax
	mov ax, [bp + 4]
	mov [DB_LOG + bx], ax
	pop ax
.full:
	inc word [db_count]
	pop bx
	pop bp
	iret


	DEFINE_PUTS puts
	DEFINE_PUTHEX puthex

zero_word:	dw 0
db_count:	dw 0
msg_db:		db "tfstep: #DB count ", 0
msg_ips:	db ", IPs", 0
msg_sp:		db " ", 0
msg_ok:		db 13, 10, "tfstep: ok", 13, 10, 0
