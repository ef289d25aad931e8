; Real mode: MOV SS and POP SS followed by INT3 and by INT n (the shadow does not hold a software
; interrupt), MOV SS twice in a row then INT3 (the second load starts no shadow of its own), and the
; real-mode IRET forms: IRET to another code segment, IRETD (o32: a 12-byte frame, EFLAGS bits 31-22
; and VM/VIF/VIP kept, AC and ID loaded). Every step after MOV SS is a host single-step over the
; shadow. Exits 0.
%include "guest.inc"
	bits 16
	org 0x7C00

%define ALT_SS		0x2000

start:
	REAL_MODE_START
	SET_IVT 3, int3_handler
	SET_IVT 0x32, int32_handler

	; MOV SS then INT3
	mov ax, ALT_SS
	mov ss, ax
	int3
.r1:
	EXPECT word [last_ip], .r1, 1
	EXPECT word [last_ss], ALT_SS, 2
	; POP SS then INT3
	push word 0
	pop ss
	int3
.r2:
	EXPECT word [last_ip], .r2, 3
	EXPECT word [last_ss], 0, 4
	; MOV SS then INT n
	mov ax, ALT_SS
	mov ss, ax
	int 0x32
.r3:
	EXPECT word [last_ip], .r3, 5
	EXPECT word [last_ss], ALT_SS, 6
	EXPECT cx, 0x3232, 7
	; POP SS then INT n
	push word 0
	pop ss
	xor cx, cx
	int 0x32
.r4:
	EXPECT word [last_ip], .r4, 8
	EXPECT cx, 0x3232, 9
	; MOV SS, MOV SS, INT3; POP SS, POP SS, INT3
	mov ax, ALT_SS
	mov ss, ax
	mov ss, ax
	int3
.r5:
	EXPECT word [last_ip], .r5, 10
	xor ax, ax
	mov ss, ax
	push word 0
	push word 0
	pop ss
	pop ss
	int3
.r6:
	EXPECT word [last_ip], .r6, 11
	EXPECT sp, 0x7C00, 12
	EXPECT word [count], 6, 13

	; IRET to another code segment: CS 0x07C0, IP relative to it
	pushf
	push word 0x07C0
	push word far_target - 0x7C00
	iret
back_from_far:
	EXPECT sp, 0x7C00, 14

	; IRETD: a 32-bit frame; VM and bits 31-22 of the image are not loaded, AC and ID are
	pushfd
	pop eax
	mov ebx, eax
	or eax, (1 << 17) | (1 << 18) | (1 << 21) | 0xFFC00000
	push eax
	push dword 0
	push dword .after_iretd
	iretd
.after_iretd:
	EXPECT sp, 0x7C00, 15
	pushfd
	pop eax
	and eax, ~(1 << 21)		; ID is writable only where CPUID exists; both kept it
	or ebx, 1 << 18
	and ebx, ~(1 << 21)
	EXPECT eax, ebx, 16
	and ebx, ~(1 << 18)
	push ebx
	popfd
	; IRETD with EIP above 0xFFFF: #GP (through the IVT), nothing popped
	SET_IVT 13, gp_handler
	mov [gp_sp], sp
	pushfd
	push dword 0
	push dword 0x12345
gp_iretd:
	iretd
	GUEST_EXIT 17
after_gp:
	EXPECT word [gp_ip], gp_iretd, 18
	EXPECT word [gp_sp_seen], 0x7C00 - 12, 19
	add sp, 12
	EXPECT sp, 0x7C00, 20

	mov si, msg_ok
	call puts
	GUEST_EXIT 0

int3_handler:
int32_handler:
	push bp
	mov bp, sp
	push ax
	mov ax, [bp + 2]
	mov [last_ip], ax
	mov ax, ss
	mov [last_ss], ax
	mov cx, 0x3232
	inc word [count]
	pop ax
	pop bp
	iret

gp_handler:
	push bp
	mov bp, sp
	mov ax, [bp + 2]
	mov [gp_ip], ax
	lea ax, [bp + 8]
	mov [gp_sp_seen], ax
	mov word [bp + 2], after_gp
	pop bp
	iret

far_target equ $
	; runs with CS = 0x07C0
	mov ax, cs
	cmp ax, 0x07C0
	jne .bad
	jmp 0:back_from_far
.bad:
	GUEST_EXIT 21

	DEFINE_PUTS puts

last_ip:	dw 0
last_ss:	dw 0
count:		dw 0
gp_ip:		dw 0
gp_sp:		dw 0
gp_sp_seen:	dw 0
msg_ok:		db "ssint: ok", 13, 10, 0
