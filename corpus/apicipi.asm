; Interrupts the local APIC sends itself (multiboot kernel on the PC machine): fixed self-IPIs through the
; ICR (self shorthand, physical and logical destination; all-excluding-self reaches nobody), taken by
; priority class, the ISR and PPR while a handler runs, EOI, TPR masking a class and below, the ICR never
; busy, an illegal vector latched in the ESR and raising the error LVT's interrupt, a software-disabled APIC
; dropping IPIs and masking its LVTs, and an NMI to itself through the NMI gate.
%define IMAGE_BASE	0x100000
%include "guest.inc"
%include "sys.inc"
%include "apic.inc"
	bits 32
	org 0x100000

%define ERROR_VECTOR	0x7E

	APIC_GUEST_START
	SET_GATE 0x45, handler45, 0
	SET_GATE 0x50, handler50, 0
	SET_GATE 0x60, handler60, 0
	SET_GATE 0x61, handler61, 0
	SET_GATE ERROR_VECTOR, error_handler, 0
	SET_GATE 2, nmi_handler, 0
	mov dword [APIC + APIC_SVR], SVR_ON

	; a self-IPI with IF clear waits in the IRR; the ICR never reads busy
	mov dword [APIC + APIC_ICR], ICR_SELF | 0x50
	EXPECT dword [APIC + APIC_IRR + 0x20], 0x10000, 1	; vector 0x50 = bit 16 of word 2
	mov eax, [APIC + APIC_ICR]
	and eax, ICR_BUSY
	EXPECT eax, 0, 2
	sti
	nop
	cli
	EXPECT dword [order_n], 1, 3
	EXPECT byte [order], 0x50, 4
	EXPECT dword [APIC + APIC_IRR + 0x20], 0, 5

	; two pending: the higher class first, the lower after its EOI (physical destination = own ID 0)
	mov dword [order_n], 0
	mov dword [APIC + APIC_ICR2], 0
	mov dword [APIC + APIC_ICR], 0x50
	mov dword [APIC + APIC_ICR], 0x60
	sti
	nop
	nop
	cli
	EXPECT dword [order_n], 2, 6
	EXPECT byte [order], 0x60, 7
	EXPECT byte [order + 1], 0x50, 8
	EXPECT dword [ppr60], 0x60, 9
	EXPECT dword [isr60], 1, 10			; vector 0x60 = bit 0 of ISR word 3

	; a handler sending a higher class is interrupted by it once IF is set (nested ISR)
	mov dword [order_n], 0
	mov dword [APIC + APIC_ICR], ICR_SELF | 0x45
	sti
	nop
	cli
	EXPECT dword [order_n], 2, 11
	EXPECT byte [order], 0x45, 12
	EXPECT byte [order + 1], 0x61, 13
	EXPECT dword [ppr61], 0x60, 14

	; TPR 0x50 holds back classes 5 and below; a class-6 vector still comes
	mov dword [order_n], 0
	mov dword [APIC + APIC_TPR], 0x50
	EXPECT dword [APIC + APIC_PPR], 0x50, 15
	mov dword [APIC + APIC_ICR], ICR_SELF | 0x45
	mov dword [APIC + APIC_ICR], ICR_SELF | 0x50
	sti
	nop
	cli
	EXPECT dword [order_n], 0, 16
	mov dword [APIC + APIC_ICR], ICR_SELF | 0x60
	sti
	nop
	cli
	EXPECT dword [order_n], 1, 17
	EXPECT byte [order], 0x60, 18
	mov dword [APIC + APIC_TPR], 0
	sti
	nop
	nop
	cli
	EXPECT dword [order_n], 4, 19			; 0x45's handler sends 0x61 again
	EXPECT byte [order + 1], 0x50, 20
	EXPECT byte [order + 2], 0x45, 21

	; logical destination, flat model: LDR bit 0 matches destination 0x01, not 0x02
	mov dword [order_n], 0
	mov dword [APIC + APIC_DFR], 0xFFFFFFFF
	mov dword [APIC + APIC_LDR], 0x01000000
	mov dword [APIC + APIC_ICR2], 0x02000000
	mov dword [APIC + APIC_ICR], ICR_LOGICAL | 0x50
	mov dword [APIC + APIC_ICR], ICR_OTHERS | 0x60
	EXPECT dword [APIC + APIC_IRR + 0x20], 0, 22
	EXPECT dword [APIC + APIC_IRR + 0x30], 0, 23
	mov dword [APIC + APIC_ICR2], 0x01000000
	mov dword [APIC + APIC_ICR], ICR_LOGICAL | 0x50
	EXPECT dword [APIC + APIC_IRR + 0x20], 0x10000, 24
	sti
	nop
	cli
	EXPECT dword [order_n], 1, 25

	; an illegal vector: ESR bit 5 (send), latched by the next ESR write, and the error interrupt
	mov dword [APIC + APIC_LVT_ERROR], ERROR_VECTOR
	mov dword [APIC + APIC_ESR], 0
	EXPECT dword [APIC + APIC_ESR], 0, 26
	mov dword [APIC + APIC_ICR], ICR_SELF | 0x05
	sti
	nop
	cli
	EXPECT dword [error_count], 1, 27
	mov dword [APIC + APIC_ESR], 0
	EXPECT dword [APIC + APIC_ESR], 0x20, 28
	mov dword [APIC + APIC_ESR], 0
	EXPECT dword [APIC + APIC_ESR], 0, 29

	; software-disabled: LVT writes keep the mask bit, IPIs are dropped
	mov dword [APIC + APIC_SVR], 0xFF
	EXPECT dword [APIC + APIC_LVT_ERROR], LVT_MASKED | ERROR_VECTOR, 30
	mov dword [APIC + APIC_LVT_ERROR], ERROR_VECTOR
	EXPECT dword [APIC + APIC_LVT_ERROR], LVT_MASKED | ERROR_VECTOR, 31
	mov dword [APIC + APIC_ICR], ICR_SELF | 0x60
	EXPECT dword [APIC + APIC_IRR + 0x30], 0, 32
	mov dword [APIC + APIC_SVR], SVR_ON

	; NMI to itself: vector 2 whatever the vector field says, IF clear or not
	mov dword [APIC + APIC_ICR], ICR_SELF | ICR_NMI
	nop
	nop
	EXPECT dword [nmi_count], 1, 33
	APIC_GUEST_END "apicipi"

; Each handler appends its vector to `order` and EOIs.
%macro RECORDING_HANDLER 1
	push eax
	mov eax, [order_n]
	mov byte [order + eax], %1
	inc dword [order_n]
	mov dword [APIC + APIC_EOI], 0
	pop eax
	iretd
%endmacro

handler50:
	RECORDING_HANDLER 0x50
handler61:
	push eax
	mov eax, [APIC + APIC_PPR]
	mov [ppr61], eax
	pop eax
	RECORDING_HANDLER 0x61
handler60:
	push eax
	mov eax, [APIC + APIC_PPR]
	mov [ppr60], eax
	mov eax, [APIC + APIC_ISR + 0x30]
	mov [isr60], eax
	pop eax
	RECORDING_HANDLER 0x60
; Sends 0x61 to itself and lets it in before its own EOI.
handler45:
	push eax
	mov eax, [order_n]
	mov byte [order + eax], 0x45
	inc dword [order_n]
	mov dword [APIC + APIC_ICR], ICR_SELF | 0x61
	sti
	nop
	cli
	mov dword [APIC + APIC_EOI], 0
	pop eax
	iretd
error_handler:
	inc dword [error_count]
	mov dword [APIC + APIC_EOI], 0
	iretd
nmi_handler:
	inc dword [nmi_count]
	iretd

order_n:	dd 0
order:		times 8 db 0
ppr60:		dd 0
ppr61:		dd 0
isr60:		dd 0
error_count:	dd 0
nmi_count:	dd 0
