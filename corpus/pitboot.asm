; The PC as QEMU's -kernel hands it to a multiboot kernel after SeaBIOS (`emudiff record --multiboot`): the
; header asks for a video mode, which the loader ignores (information flags without bits 11 and 12); the
; 8259A masks 0xb8/0x8e; the 8254 read back: channel 0 in mode 2, LSB/MSB, binary (SeaBIOS' clock setup),
; channels 1 and 2 in their reset mode 3 (SeaBIOS times with the ACPI PM timer, so channel 2 never
; calibrates the TSC), port 0x61 with the channel 2 gate and speaker off; channel 0 counting; its IRQ 0
; taken at vector 0x08 after HLT. The read-back's OUT bits are not checked: QEMU's mode 2 keeps OUT low.
%define IMAGE_BASE	0x100000
%include "guest.inc"
%include "sys.inc"
	bits 32
	org 0x100000

%define PIT_CH0		0x40
%define PIT_CH1		0x41
%define PIT_CH2		0x42
%define PIT_CONTROL	0x43
%define PORT_B		0x61
%define READ_BACK	0xC0		; read-back command: | 0x20 status only, | 2 << channel
%define MB_FLAGS	0x00010004	; address fields, video mode
%define MBI_EXPECTED	0x24F		; memory, boot device, command line, modules, memory map, loader name

mb_header:
	dd 0x1BADB002
	dd MB_FLAGS
	dd -(0x1BADB002 + MB_FLAGS)
	dd mb_header			; header_addr
	dd mb_header			; load_addr
	dd 0				; load_end_addr: the whole file
	dd 0				; bss_end_addr
	dd entry
	dd 0, 1024, 768, 32		; linear graphics 1024x768x32, asked for and not given

; Read-back status of channel %1 into al.
%macro PIT_STATUS 1
	mov al, READ_BACK | 0x20 | (2 << %1)
	out PIT_CONTROL, al
	in al, PIT_CH0 + %1
%endmacro

; Channel 0's count latched into ax (LSB then MSB, its access mode).
%macro PIT_COUNT0 0
	xor al, al
	out PIT_CONTROL, al
	in al, PIT_CH0
	mov ah, al
	in al, PIT_CH0
	xchg al, ah
%endmacro

entry:
	cli
	EXPECT dword [ebx], MBI_EXPECTED, 1
	lgdt [sys_gdt_desc]
	jmp SEL_CODE0:.flat
.flat:
	SYS_SETUP unexpected
	SET_GATE 8, irq0_handler, 0	; IRQ 0 at the firmware's vector base

	in al, 0x21
	EXPECT al, 0xB8, 2
	in al, 0xA1
	EXPECT al, 0x8E, 3
	PIT_STATUS 0
	and al, 0x3F
	EXPECT al, 0x34, 4
	PIT_STATUS 1
	and al, 0x0F
	EXPECT al, 0x06, 5
	PIT_STATUS 2
	and al, 0x0F
	EXPECT al, 0x06, 6
	in al, PORT_B
	and al, 3
	EXPECT al, 0, 7

	; channel 0 counts: a later latch reads another value (bounded wait: TCG runs at host speed)
	PIT_COUNT0
	mov bx, ax
	mov ecx, 1000000
.moves:
	PIT_COUNT0
	cmp ax, bx
	jne .moved
	dec ecx
	jnz .moves
	GUEST_EXIT 8
.moved:

	; IRQ 0 through the unmasked line at vector 0x08
	sti
	hlt
	cli
	EXPECT dword [irq_count], 1, 9
	mov esi, msg_ok
	call puts32
	GUEST_EXIT 0

; Counts, masks IRQ 0 so no further tick comes in, acknowledges.
irq0_handler:
	push eax
	inc dword [irq_count]
	in al, 0x21
	or al, 1
	out 0x21, al
	mov al, 0x20
	out 0x20, al
	pop eax
	iretd

	DEFINE_PUTS puts32

; Any other vector, stray interrupts included.
unexpected:
	GUEST_EXIT 0x7F

	DEFINE_SYS_GDT unexpected
	DEFINE_SYS_IDT_DESC
irq_count:	dd 0
msg_ok:		db "pitboot: ok", 13, 10, 0
