; Real-mode arithmetic and loops; prints on serial and checks its own results.
%include "guest.inc"
	bits 16
	org 0x7C00

start:
	REAL_MODE_START

	; sum 1..100 with loop
	xor ax, ax
	mov cx, 100
.sum:
	add ax, cx
	loop .sum
	EXPECT ax, 5050, 1

	; mul/div round trip through dx:ax
	mov ax, 1234
	mov bx, 56
	mul bx
	EXPECT dx, 1, 2
	EXPECT ax, 0x0DF0, 3
	div bx
	EXPECT ax, 1234, 4
	EXPECT dx, 0, 5

	; 32-bit registers in real mode: fib(39) by xadd
	mov ecx, 39
	xor eax, eax
	mov ebx, 1
.fib:
	xadd eax, ebx
	dec ecx
	jnz .fib
	EXPECT eax, 63245986, 6

	; signed ops, shifts and carries
	mov ax, -7
	cwd
	mov bx, 2
	idiv bx
	EXPECT ax, -3, 7
	EXPECT dx, -1, 8
	mov ax, 0x8001
	rol ax, 1
	jnc .bad_carry
	EXPECT ax, 0x0003, 9
	mov dx, 0x1234
	mov ax, 0x5678
	shld dx, ax, 4
	EXPECT dx, 0x2345, 10
	stc
	mov al, 0xFF
	adc al, 0
	jnc .bad_carry
	EXPECT al, 0, 11
	; das (KVM's emulator has DAS but not DAA)
	mov al, 0x47
	sub al, 0x19
	das
	EXPECT al, 0x28, 12

	; bit scan and count loop over a bitmap in memory
	mov si, bitmap
	xor dx, dx
	mov cx, 8
.count:
	lodsb
.bits:
	test al, al
	jz .next
	mov bl, al
	dec bl
	and al, bl
	inc dx
	jmp .bits
.next:
	loop .count
	EXPECT dx, 16, 13

	mov si, msg
	call puts
	GUEST_EXIT 0

.bad_carry:
	GUEST_EXIT 14

	DEFINE_PUTS puts

bitmap:	db 0x01, 0x03, 0x07, 0x0F, 0x80, 0xC0, 0xE0, 0x00
msg:	db "realloop: ok", 13, 10, 0
