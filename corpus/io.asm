; Port I/O and MMIO: LSR-polled serial output, POST port, UART scratch register, rep outsb
; to the UART, rep insb from the LSR, absent ports (read all ones, writes dropped) with
; in/out/ins/outs of every size; then 32-bit protected mode and the MMIO test region:
; 1/2/4-byte reads of the sequence half, an ALU operand, rep movsd and movsb from MMIO,
; writes to both halves, rep movsd into MMIO storage, repe cmpsd and xchg on MMIO.
%include "guest.inc"
	bits 16
	org 0x7C00

%define ABSENT_PORT	0x0300
%define ABSENT_PORT8	0xF2
%define DEBUGCON	0xE9
%define BUF		0x0600
%define MMIO_STORE	(MMIO_BASE + 0x800)

start:
	REAL_MODE_START
	cld
	mov si, msg_polled
	call puts16

	; POST code: reads return the last one written
	mov al, 0x42
	out POST_PORT, al
	xor al, al
	in al, POST_PORT
	EXPECT al, 0x42, 1

	; rep outsb straight into THR: the UART transmits instantly
	mov si, msg_outsb
	mov cx, msg_outsb_len
	mov dx, COM1_THR
	rep outsb
	EXPECT cx, 0, 2

	; the 16550 scratch register keeps a byte
	mov dx, COM1_THR + 7
	mov al, 0x5A
	out dx, al
	xor al, al
	in al, dx
	EXPECT al, 0x5A, 3

	; rep insb from LSR: THRE and TEMT always set
	mov dx, COM1_LSR
	mov di, BUF
	mov cx, 4
	rep insb
	EXPECT di, BUF + 4, 4
	mov eax, [BUF]
	and eax, 0x60606060
	EXPECT eax, 0x60606060, 5

	; absent ports: all ones in every size, writes vanish
	mov dx, ABSENT_PORT
	mov al, 0x12
	out dx, al
	mov ax, 0x1234
	out dx, ax
	mov eax, 0x12345678
	out dx, eax
	xor eax, eax
	in al, dx
	EXPECT eax, 0x000000FF, 6
	in ax, dx
	EXPECT eax, 0x0000FFFF, 7
	in eax, dx
	EXPECT eax, 0xFFFFFFFF, 8
	xor al, al
	in al, ABSENT_PORT8
	EXPECT al, 0xFF, 9
	mov di, BUF
	mov dword [BUF], 0
	mov word [BUF + 4], 0
	mov cx, 3
	rep insw
	EXPECT dword [BUF], 0xFFFFFFFF, 10
	EXPECT word [BUF + 4], 0xFFFF, 11
	mov si, BUF
	mov cx, 2
	rep outsd
	; the Bochs debug console answers 0xE9
	in al, DEBUGCON
	EXPECT al, 0xE9, 12

	ENTER_PM32 pm32

	DEFINE_PUTS puts16

	bits 32
pm32:
	PM32_SEGMENTS
	cld
	; sequence half: every read takes the next value, whatever its address and size
	MMIO_SEQ 0, SEQ0
	MMIO_SEQ 1, SEQ1
	MMIO_SEQ 2, SEQ2
	MMIO_SEQ 3, SEQ3
	MMIO_SEQ 4, SEQ4
	MMIO_SEQ 5, SEQ5
	MMIO_SEQ 6, SEQ6
	MMIO_SEQ 7, SEQ7
	MMIO_SEQ 8, SEQ8
	MMIO_SEQ 9, SEQ9
	mov al, [MMIO_BASE]
	EXPECT al, SEQ0 & 0xFF, 20
	mov ax, [MMIO_BASE + 0x10]
	EXPECT ax, SEQ1 & 0xFFFF, 21
	mov eax, [MMIO_BASE + 0x20]
	EXPECT eax, SEQ2 & 0xFFFFFFFF, 22
	mov ebx, 1
	add ebx, [MMIO_BASE + 0x30]
	EXPECT ebx, (SEQ3 + 1) & 0xFFFFFFFF, 23
	; writes to the sequence half are kept for the host but do not change reads
	mov dword [MMIO_BASE + 0x40], 0xDEADBEEF
	mov esi, MMIO_BASE + 0x100
	mov edi, BUF
	mov ecx, 4
	rep movsd
	EXPECT dword [BUF], SEQ4 & 0xFFFFFFFF, 24
	EXPECT dword [BUF + 4], SEQ5 & 0xFFFFFFFF, 25
	EXPECT dword [BUF + 8], SEQ6 & 0xFFFFFFFF, 26
	EXPECT dword [BUF + 12], SEQ7 & 0xFFFFFFFF, 27
	movsb
	EXPECT byte [BUF + 16], SEQ8 & 0xFF, 28
	movzx eax, word [MMIO_BASE + 0x7FE]
	EXPECT eax, SEQ9 & 0xFFFF, 29

	; storage half: reads return what was written
	mov byte [MMIO_STORE], 0x11
	mov word [MMIO_STORE + 2], 0x2233
	mov dword [MMIO_STORE + 4], 0x44556677
	mov eax, [MMIO_STORE]
	EXPECT eax, 0x22330011, 30
	mov eax, [MMIO_STORE + 4]
	EXPECT eax, 0x44556677, 31
	mov esi, msg_polled
	mov edi, MMIO_STORE + 0x100
	mov ecx, 4
	rep movsd
	mov esi, msg_polled
	mov edi, MMIO_STORE + 0x100
	mov ecx, 4
	repe cmpsd
	jne .fail_cmp
	mov eax, 0xCAFEF00D
	xchg [MMIO_STORE + 4], eax
	EXPECT eax, 0x44556677, 32
	EXPECT dword [MMIO_STORE + 4], 0xCAFEF00D, 33

	mov esi, msg_ok
	call puts32
	GUEST_EXIT 0
.fail_cmp:
	GUEST_EXIT 40

	DEFINE_PUTS puts32

	DEFINE_FLAT_GDT
msg_polled:	db "io: polled output", 13, 10, 0
msg_outsb:	db "io: rep outsb", 13, 10
msg_outsb_len	equ $ - msg_outsb
msg_ok:		db "io: ok", 13, 10, 0
