; QEMU's pc-testdev (`emudiff record --device pc-testdev --multiboot`): the 8259A as the firmware leaves it
; (vectors 0x08/0x70, masks 0xb8/0x8e), the scratch port at 0xe0 in every width and through the byte window
; at 0xe8, IRQ 1 raised through port 0x2001 and taken at vector 9 (IRQ 3, masked, stays out), and the
; RAM-like window at 0xff000000: 400 bytes copied there with rep movsb, compared back with one repe cmpsb
; (400 MMIO reads in a step), then a byte changed and the compare stops on it.
%define IMAGE_BASE	0x100000
%include "guest.inc"
	bits 32
	org 0x100000

%define TESTDEV		0xE0
%define TESTDEV_BYTE	0xE8
%define TESTDEV_IRQ	0x2000
%define IOMEM		0xFF000000
%define COMPARE_LEN	400
%define IDT		0x1000

mb_header:
	dd 0x1BADB002
	dd 0x00010000
	dd -(0x1BADB002 + 0x00010000)
	dd mb_header
	dd mb_header
	dd 0
	dd 0
	dd entry

entry:
	cli
	lgdt [gdt_desc]
	jmp 0x08:.flat
.flat:
	mov ax, 0x10
	mov ds, ax
	mov es, ax
	mov ss, ax
	mov esp, 0x90000
	; every vector ends the run with 0x7f, vector 9 (IRQ 1 at the firmware's base) counts
	xor ecx, ecx
.gate:
	mov eax, unexpected
	cmp ecx, 9
	jne .set
	mov eax, irq1_handler
.set:
	mov [IDT + ecx * 8], ax
	mov word [IDT + ecx * 8 + 2], 0x08
	mov word [IDT + ecx * 8 + 4], 0x8E00
	shr eax, 16
	mov [IDT + ecx * 8 + 6], ax
	inc ecx
	cmp ecx, 256
	jne .gate
	lidt [idt_desc]

	in al, 0x21
	EXPECT al, 0xB8, 1
	in al, 0xA1
	EXPECT al, 0x8E, 2

	; the scratch register
	mov eax, 0x11223344
	out TESTDEV, eax
	in eax, TESTDEV
	EXPECT eax, 0x11223344, 3
	in al, TESTDEV + 2
	EXPECT al, 0x22, 4
	mov ax, 0xAABB
	out TESTDEV + 1, ax
	in eax, TESTDEV
	EXPECT eax, 0x11AABB44, 5
	in al, TESTDEV_BYTE
	EXPECT al, 0x44, 6
	mov al, 0x5A
	out TESTDEV_BYTE + 3, al
	in eax, TESTDEV
	EXPECT eax, 0x5AAABB44, 7

	; IRQ 1 through the PIC: taken after the STI shadow
	mov dx, TESTDEV_IRQ + 1
	mov al, 1
	out dx, al
	sti
	nop
	cli
	EXPECT dword [irq_count], 1, 8
	; IRQ 3 is masked as the firmware leaves it
	mov dx, TESTDEV_IRQ + 3
	mov al, 1
	out dx, al
	sti
	nop
	nop
	cli
	EXPECT dword [irq_count], 1, 9
	xor al, al
	out dx, al

	; the MMIO window: copy, compare in one repe cmpsb, then a difference at byte 300
	cld
	mov esi, entry
	mov edi, IOMEM
	mov ecx, COMPARE_LEN
	rep movsb
	mov esi, entry
	mov edi, IOMEM
	mov ecx, COMPARE_LEN
	repe cmpsb
	jne fail_equal
	EXPECT ecx, 0, 11
	EXPECT edi, IOMEM + COMPARE_LEN, 12
	not byte [IOMEM + 300]
	mov esi, entry
	mov edi, IOMEM
	mov ecx, COMPARE_LEN
	repe cmpsb
	je fail_differ
	EXPECT ecx, COMPARE_LEN - 301, 14
	mov esi, msg_ok
	call puts32
	GUEST_EXIT 0
fail_equal:
	GUEST_EXIT 10
fail_differ:
	GUEST_EXIT 13

; Lowers the line, acknowledges, counts.
irq1_handler:
	push eax
	push edx
	mov dx, TESTDEV_IRQ + 1
	xor al, al
	out dx, al
	mov al, 0x20
	out 0x20, al
	inc dword [irq_count]
	pop edx
	pop eax
	iretd

unexpected:
	GUEST_EXIT 0x7F

	DEFINE_PUTS puts32

align 8
gdt:
	dq 0
	dq 0x00CF9A000000FFFF
	dq 0x00CF92000000FFFF
gdt_desc:
	dw gdt_desc - gdt - 1
	dd gdt
idt_desc:
	dw 256 * 8 - 1
	dd IDT
irq_count:	dd 0
msg_ok:		db "testdev: ok", 13, 10, 0
