; The local APIC timer in one-shot and periodic mode (multiboot kernel on the PC machine): the current
; count runs down from the initial count, one-shot fires once and then reads 0, a masked timer runs out
; without an interrupt, periodic fires again and again until the initial count is written 0; the divide
; configuration slows the count; the handler sees its vector in the ISR and in the PPR, and EOI clears it.
%define IMAGE_BASE	0x100000
%include "guest.inc"
%include "sys.inc"
%include "apic.inc"
	bits 32
	org 0x100000

%define TIMER_VECTOR	0x40
%ifndef PERIODS
%define PERIODS		3		; periodic interrupts to wait for (the benchmark build takes many)
%endif
%define TIMER_IRR	(APIC + APIC_IRR + 0x20)	; the IRR word of vectors 0x40-0x5F
%define TIMER_ISR	(APIC + APIC_ISR + 0x20)

	APIC_GUEST_START
	SET_GATE TIMER_VECTOR, timer_handler, 0
	mov dword [APIC + APIC_SVR], SVR_ON
	; an integrated APIC (version 0x1x) with at least six LVT entries
	mov eax, [APIC + APIC_VER]
	mov ebx, eax
	and eax, 0xF0
	EXPECT eax, 0x10, 1
	shr ebx, 16
	and ebx, 0xFF
	EXPECT_RANGE ebx, 5, 0xFF, 2

	; one-shot, divide by 1: the count runs down while the guest runs
	mov dword [APIC + APIC_TDCR], 0xB
	mov dword [APIC + APIC_LVT_TIMER], TIMER_VECTOR
	mov dword [APIC + APIC_TMICT], 2000
	EXPECT dword [APIC + APIC_TMICT], 2000, 3
	mov eax, [APIC + APIC_TMCCT]
	EXPECT_RANGE eax, 1, 1999, 4
	mov ecx, 20
	loop $
	mov ebx, [APIC + APIC_TMCCT]
	dec eax
	EXPECT_RANGE ebx, 1, eax, 5
	sti
	hlt
	cli
	EXPECT dword [timer_count], 1, 6
	EXPECT dword [isr_in_handler], 1, 7		; vector 0x40 = bit 0 of the ISR word
	EXPECT dword [ppr_in_handler], TIMER_VECTOR, 8
	EXPECT dword [TIMER_ISR], 0, 9			; EOI cleared it
	EXPECT dword [APIC + APIC_TMCCT], 0, 10
	; one-shot does not come back
	sti
	mov ecx, 3000
	loop $
	cli
	EXPECT dword [timer_count], 1, 11

	; masked: the count still runs out, nothing reaches the IRR
	mov dword [APIC + APIC_LVT_TIMER], TIMER_VECTOR | LVT_MASKED
	mov dword [APIC + APIC_TMICT], 100
.masked:
	cmp dword [APIC + APIC_TMCCT], 0
	jne .masked
	EXPECT dword [TIMER_IRR], 0, 12

	; divide by 128: 100 instructions take the count down by at most one
	mov dword [APIC + APIC_TDCR], 0xA
	EXPECT dword [APIC + APIC_TDCR], 0xA, 13
	mov dword [APIC + APIC_TMICT], 1000
	mov ecx, 30
	loop $
	mov eax, [APIC + APIC_TMCCT]
	EXPECT_RANGE eax, 999, 1000, 14

	; periodic, divide by 2: PERIODS interrupts, HLT waiting for each
	mov dword [timer_count], 0
	mov dword [APIC + APIC_TDCR], 0
	mov dword [APIC + APIC_LVT_TIMER], TIMER_VECTOR | LVT_PERIODIC
	EXPECT dword [APIC + APIC_LVT_TIMER], TIMER_VECTOR | LVT_PERIODIC, 15
	mov dword [APIC + APIC_TMICT], 500
.periodic:
	sti
	hlt
	cli
	cmp dword [timer_count], PERIODS
	jb .periodic
	mov eax, [APIC + APIC_TMCCT]
	EXPECT_RANGE eax, 1, 500, 16
	; initial count 0 stops it
	mov dword [APIC + APIC_TMICT], 0
	EXPECT dword [APIC + APIC_TMCCT], 0, 17
	sti
	mov ecx, 2000
	loop $
	cli
	EXPECT dword [timer_count], PERIODS, 18
	APIC_GUEST_END "apictimer"

timer_handler:
	push eax
	inc dword [timer_count]
	mov eax, [TIMER_ISR]
	mov [isr_in_handler], eax
	mov eax, [APIC + APIC_PPR]
	mov [ppr_in_handler], eax
	mov dword [APIC + APIC_EOI], 0
	pop eax
	iretd

timer_count:	dd 0
isr_in_handler:	dd 0
ppr_in_handler:	dd 0
