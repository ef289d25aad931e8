; String instructions in real mode: rep movsb/movsw/movsd, rep stosb/stosd, repe cmpsb,
; repne scasb, lods; DF=0 and DF=1; 16-bit and 32-bit address size (0x67); copies across
; 4 KiB page boundaries; DI wrapping at 64 KiB; rep with a zero count; overlapping movsb.
%include "guest.inc"
	bits 16
	org 0x7C00

%define BUF_SEG		0x1000		; buffers at 0x10000..
%define WRAP_SEG	0x2000

start:
	cli
	xor ax, ax
	mov ds, ax
	mov ss, ax
	mov sp, 0x7C00
	mov ax, BUF_SEG
	mov es, ax
	cld

	; rep stosb across the page boundary at 0x11000
	mov di, 0x0FF0
	mov cx, 0x20
	mov al, 0xA5
	rep stosb
	EXPECT di, 0x1010, 1
	EXPECT cx, 0, 2
	EXPECT dword [es:0x0FF0], 0xA5A5A5A5, 3
	EXPECT dword [es:0x100C], 0xA5A5A5A5, 4
	EXPECT byte [es:0x1010], 0, 5

	; rep movsb forward across 0x12000, then compare it back with repe cmpsb
	mov si, alphabet
	mov di, 0x1FF0
	mov cx, 26
	rep movsb
	EXPECT si, alphabet + 26, 6
	EXPECT di, 0x1FF0 + 26, 7
	mov si, alphabet
	mov di, 0x1FF0
	mov cx, 26
	repe cmpsb
	jne .fail_cmp
	EXPECT cx, 0, 8
	; a difference at 'q' stops repe cmpsb just past it
	mov byte [es:0x1FF0 + 16], 'Q'
	mov si, alphabet
	mov di, 0x1FF0
	mov cx, 26
	repe cmpsb
	je .fail_cmp
	EXPECT cx, 26 - 17, 9
	EXPECT si, alphabet + 17, 10

	; repne scasb finds 'x' in the copy
	mov di, 0x1FF0
	mov cx, 26
	mov al, 'x'
	repne scasb
	jne .fail_cmp
	EXPECT di, 0x1FF0 + 24, 11
	EXPECT cx, 2, 12

	; DF=1: rep movsw backwards, last word first, across 0x13000
	std
	mov si, alphabet + 24
	mov di, 0x3000 + 8
	mov cx, 13
	rep movsw
	cld
	EXPECT si, alphabet - 2, 13
	EXPECT di, 0x3000 - 18, 14
	EXPECT word [es:0x3000 - 16], 'ab', 15
	EXPECT word [es:0x3000 + 8], 'yz', 16

	; 32-bit address size: a32 rep movsd uses esi, edi and ecx
	mov esi, alphabet
	mov edi, 0x4FF8
	mov ecx, 6
	a32 rep movsd
	EXPECT ecx, 0, 17
	EXPECT edi, 0x4FF8 + 24, 18
	EXPECT dword [es:0x4FFC], 'efgh', 19
	EXPECT dword [es:0x500C], 'uvwx', 20
	; a16 counts in cx only: the high half of ecx stays
	mov esi, alphabet
	mov edi, 0x6000
	mov ecx, 0x00010003
	rep movsb
	EXPECT ecx, 0x00010000, 21
	EXPECT byte [es:0x6003], 0, 22
	; a32 repne scasb with DF=1 over the copy
	std
	mov edi, 0x4FF8 + 23
	mov ecx, 24
	mov al, 'c'
	a32 repne scasb
	cld
	jne .fail_cmp
	EXPECT edi, 0x4FF8 + 1, 23
	EXPECT ecx, 2, 24
	; a32 rep stosd with DF=1 across 0x17000
	std
	mov edi, 0x7004
	mov ecx, 4
	mov eax, 0x5A5A5A5A
	a32 rep stosd
	cld
	EXPECT edi, 0x6FF4, 25
	EXPECT dword [es:0x6FF8], 0x5A5A5A5A, 26
	EXPECT dword [es:0x7004], 0x5A5A5A5A, 27

	; a zero count does nothing
	mov di, 0x8000
	xor cx, cx
	mov al, 0xEE
	rep stosb
	EXPECT di, 0x8000, 28
	EXPECT byte [es:0x8000], 0, 29

	; overlapping forward movsb replicates a pattern
	push ds
	push es
	pop ds
	mov word [0x9000], 'AB'
	mov si, 0x9000
	mov di, 0x9002
	mov cx, 6
	rep movsb
	pop ds
	EXPECT dword [es:0x9004], 'ABAB', 30

	; di wraps at 64 KiB within the segment
	mov ax, WRAP_SEG
	mov es, ax
	mov di, 0xFFFC
	mov cx, 8
	mov al, 0x77
	rep stosb
	EXPECT di, 4, 31
	EXPECT dword [es:0xFFFC], 0x77777777, 32
	EXPECT dword [es:0x0000], 0x77777777, 33
	mov ax, 0x3000
	mov es, ax
	EXPECT byte [es:0x0000], 0, 34	; nothing spilled past 0x2FFFF

	; lodsb/lodsw walk, checksum the alphabet
	mov si, alphabet
	mov cx, 13
	xor bx, bx
.sum:
	lodsw
	add bx, ax
	loop .sum
	EXPECT bx, 0x9B89, 35

	mov si, msg_ok
	call puts
	GUEST_EXIT 0

.fail_cmp:
	GUEST_EXIT 40

	DEFINE_PUTS puts

alphabet:	db "abcdefghijklmnopqrstuvwxyz"
msg_ok:		db "strings: ok", 13, 10, 0
