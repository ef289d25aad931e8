; STI then HLT with the PC's PIC and PIT (a multiboot kernel: `emudiff record --multiboot`, the machine
; with an interrupt controller). IRQ 0 arrives while HLT waits: the handler sees the return address after
; HLT. Then IRQ 0 is made pending with IF=0 (polled in the PIC's IRR) before STI; HLT: the STI shadow
; holds it over HLT, so it is taken with the return address after HLT, not at HLT. The handler returns
; with IRETD, which KVM's in-kernel emulator cannot run (emulation failure); with --fallback emu the
; guest exits 0.
%define IMAGE_BASE	0x100000
%include "guest.inc"
%include "sys.inc"
	bits 32
	org 0x100000

%define PIC1		0x20
%define PIC1_DATA	0x21
%define PIC2		0xA0
%define PIC2_DATA	0xA1
%define PIT_CH0		0x40
%define PIT_MODE	0x43
%define IRQ0_VECTOR	0x20
%define PIT_COUNT	200
%define IF		0x200

mb_header:
	dd 0x1BADB002
	dd 0x00010000			; address fields present: load this flat file as it is
	dd -(0x1BADB002 + 0x00010000)
	dd mb_header			; header_addr
	dd mb_header			; load_addr
	dd 0				; load_end_addr: the whole file
	dd 0				; bss_end_addr
	dd entry

entry:
	cli
	lgdt [sys_gdt_desc]
	jmp SEL_CODE0:.flat
.flat:
	SYS_SETUP unexpected
	SET_GATE IRQ0_VECTOR, irq0_handler, 0
	; PIC: vectors 0x20-0x2F, only IRQ 0 unmasked
	mov al, 0x11
	out PIC1, al
	out PIC2, al
	mov al, IRQ0_VECTOR
	out PIC1_DATA, al
	mov al, IRQ0_VECTOR + 8
	out PIC2_DATA, al
	mov al, 4
	out PIC1_DATA, al
	mov al, 2
	out PIC2_DATA, al
	mov al, 1
	out PIC1_DATA, al
	out PIC2_DATA, al
	mov al, 0xFE
	out PIC1_DATA, al
	mov al, 0xFF
	out PIC2_DATA, al
	; PIT channel 0, rate generator
	mov al, 0x34
	out PIT_MODE, al
	mov al, PIT_COUNT & 0xFF
	out PIT_CH0, al
	mov al, PIT_COUNT >> 8
	out PIT_CH0, al

	; the interrupt arrives while HLT waits
	sti
	hlt
after_hlt1:
	EXPECT dword [irq_count], 1, 1
	EXPECT dword [irq_eip], after_hlt1, 2

	; the interrupt is pending before STI; HLT
.wait:
	mov al, 0x0A			; OCW3: read IRR
	out PIC1, al
	in al, PIC1
	test al, 1
	jz .wait
	sti
	hlt
after_hlt2:
	EXPECT dword [irq_count], 2, 3
	EXPECT dword [irq_eip], after_hlt2, 4
	mov esi, msg_ok
	call puts32
	GUEST_EXIT 0

; Records the return address, acknowledges, and returns with IF clear so no further tick comes in.
irq0_handler:
	push eax
	mov eax, [esp + 4]
	mov [irq_eip], eax
	inc dword [irq_count]
	and dword [esp + 12], ~IF
	mov al, 0x20
	out PIC1, al
	pop eax
	iretd

unexpected:
	GUEST_EXIT 0x7F

	DEFINE_PUTS puts32

	DEFINE_SYS_GDT unexpected
	DEFINE_SYS_IDT_DESC
irq_count:	dd 0
irq_eip:	dd 0
msg_ok:		db "stihlt: ok", 13, 10, 0
