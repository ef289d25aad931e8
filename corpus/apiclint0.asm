; The 8259 PIC behind the local APIC's LINT0 (multiboot kernel on the PC machine, PIT one-shots on IRQ 0):
; the firmware leaves LINT0 unmasked in ExtINT mode (its trigger-mode bit is the firmware's choice: SeaBIOS
; sets it, the SDM ignores it for ExtINT), so IRQ 0 reaches the CPU through the PIC's vector; masking LINT0
; holds it back (pending in the PIC's IRR) until it is unmasked; with the APIC globally disabled
; (IA32_APIC_BASE bit 11 clear) the PIC's interrupt reaches the CPU whatever LINT0 says and the xAPIC page
; reads all ones; enabled again, the APIC starts from its power-up state (LVTs masked, SVR 0xFF) and IRQ 0
; waits in the PIC. Each IRQ 0 is one PIT mode 0 count (one edge), so the counts hold however long a step
; takes on a host-timed PIT.
%define IMAGE_BASE	0x100000
%include "guest.inc"
%include "sys.inc"
%include "apic.inc"
	bits 32
	org 0x100000

%define PIT_CH0		0x40
%define PIT_MODE	0x43
%define PIT_COUNT	200
%define LVT_DELIVERY	0x700
%define LVT_LEVEL	0x8000

; PIT channel 0 in mode 0 (interrupt on terminal count): OUT low now, one rising edge PIT_COUNT clocks on.
%macro PIT_ONE_SHOT 0
	mov al, 0x30
	out PIT_MODE, al
	mov al, PIT_COUNT & 0xFF
	out PIT_CH0, al
	mov al, PIT_COUNT >> 8
	out PIT_CH0, al
%endmacro

; With IF set, waits until IRQ 0 is pending in the PIC's IRR, failing with %2 once irq_count leaves %1.
%macro WAIT_IRR0_HELD 2
%%poll:
	EXPECT dword [irq_count], %1, %2
	mov al, 0x0A				; OCW3: read the IRR
	out PIC1, al
	in al, PIC1
	test al, 1
	jz %%poll
	mov ecx, 100
	loop $
%endmacro

	APIC_GUEST_START
	SET_GATE 0x20, irq0_handler, 0
	mov eax, [APIC + APIC_LVT_LINT0]
	and eax, LVT_MASKED | LVT_DELIVERY
	EXPECT eax, LVT_EXTINT, 1
	mov dword [APIC + APIC_SVR], SVR_ON
	mov al, 0xFE				; IRQ 0 only
	out PIC1_DATA, al

	; ExtINT: the PIC's vector
	PIT_ONE_SHOT
	sti
	hlt
	cli
	EXPECT dword [irq_count], 1, 2

	; LINT0 masked: IRQ 0 waits in the PIC (polled in its IRR with IF set)
	mov dword [APIC + APIC_LVT_LINT0], LVT_MASKED | LVT_EXTINT
	PIT_ONE_SHOT
	sti
	WAIT_IRR0_HELD 1, 3
	cli
	EXPECT dword [irq_count], 1, 4
	; unmasked (level trigger mode, as SeaBIOS writes it: ExtINT ignores it): taken right after STI's shadow
	mov dword [APIC + APIC_LVT_LINT0], LVT_LEVEL | LVT_EXTINT
	sti
	nop
	cli
	EXPECT dword [irq_count], 2, 5

	; globally disabled: LINT0 no longer matters
	mov dword [APIC + APIC_LVT_LINT0], LVT_MASKED | LVT_EXTINT
	mov ecx, MSR_APIC_BASE
	rdmsr
	and eax, ~APIC_BASE_EN
	wrmsr
	EXPECT dword [APIC + APIC_VER], 0xFFFFFFFF, 6
	PIT_ONE_SHOT
	sti
	hlt
	cli
	EXPECT dword [irq_count], 3, 7
	; enabled again: power-up state, so LINT0 is masked and IRQ 0 waits
	mov ecx, MSR_APIC_BASE
	rdmsr
	or eax, APIC_BASE_EN
	wrmsr
	EXPECT dword [APIC + APIC_LVT_LINT0], LVT_MASKED, 8
	EXPECT dword [APIC + APIC_SVR], 0xFF, 9
	PIT_ONE_SHOT
	sti
	WAIT_IRR0_HELD 3, 10
	cli
	EXPECT dword [irq_count], 3, 11
	APIC_GUEST_END "apiclint0"

; Counts and acknowledges at the PIC; the APIC sees none of it (ExtINT).
irq0_handler:
	push eax
	inc dword [irq_count]
	mov al, 0x20
	out PIC1, al
	pop eax
	iretd

irq_count:	dd 0
