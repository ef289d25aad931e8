; The local APIC timer in TSC-deadline mode (multiboot kernel on the PC machine): IA32_TSC_DEADLINE reads
; back the armed deadline, the interrupt comes once the TSC reaches it (HLT waits) and clears the MSR; a
; deadline already passed fires at once; writing 0 disarms; the initial-count register is ignored in this
; mode; leaving the mode disarms the timer (the MSR reads 0 outside it).
%define IMAGE_BASE	0x100000
%include "guest.inc"
%include "sys.inc"
%include "apic.inc"
	bits 32
	org 0x100000

%define TIMER_VECTOR	0x40
%define TIMER_IRR	(APIC + APIC_IRR + 0x20)
%define DELAY		3000

; IA32_TSC_DEADLINE <- TSC + %1 (edx:eax keeps the deadline).
%macro ARM_IN 1
	rdtsc
	add eax, %1
	adc edx, 0
	mov ecx, MSR_TSC_DEADLINE
	wrmsr
%endmacro

	APIC_GUEST_START
	SET_GATE TIMER_VECTOR, timer_handler, 0
	mov dword [APIC + APIC_SVR], SVR_ON
	mov dword [APIC + APIC_LVT_TIMER], TIMER_VECTOR | LVT_DEADLINE
	EXPECT dword [APIC + APIC_LVT_TIMER], TIMER_VECTOR | LVT_DEADLINE, 1
	; the initial count does nothing here
	mov dword [APIC + APIC_TMICT], 100
	EXPECT dword [APIC + APIC_TMICT], 0, 2
	EXPECT dword [APIC + APIC_TMCCT], 0, 3

	ARM_IN DELAY
	mov [deadline], eax
	mov [deadline + 4], edx
	mov ecx, MSR_TSC_DEADLINE
	rdmsr
	EXPECT eax, [deadline], 4
	EXPECT edx, [deadline + 4], 5
	sti
	hlt
	cli
	EXPECT dword [timer_count], 1, 6
	mov ecx, MSR_TSC_DEADLINE
	rdmsr
	or eax, edx
	EXPECT eax, 0, 7
	; the interrupt came no earlier than the deadline
	mov eax, [tsc_in_handler]
	mov edx, [tsc_in_handler + 4]
	sub eax, [deadline]
	sbb edx, [deadline + 4]
	EXPECT_RANGE edx, 0, 0, 8

	; a deadline in the past: the IRR at once
	mov ecx, MSR_TSC_DEADLINE
	mov eax, 1
	xor edx, edx
	wrmsr
	EXPECT dword [TIMER_IRR], 1, 9
	sti
	nop
	cli
	EXPECT dword [timer_count], 2, 10

	; disarmed by 0
	ARM_IN 200
	mov ecx, MSR_TSC_DEADLINE
	xor eax, eax
	xor edx, edx
	wrmsr
	sti
	mov ecx, 1000
	loop $
	cli
	EXPECT dword [timer_count], 2, 11

	; leaving TSC-deadline mode disarms
	ARM_IN 200
	mov dword [APIC + APIC_LVT_TIMER], TIMER_VECTOR
	mov dword [APIC + APIC_LVT_TIMER], TIMER_VECTOR | LVT_DEADLINE
	mov ecx, MSR_TSC_DEADLINE
	rdmsr
	or eax, edx
	EXPECT eax, 0, 12
	sti
	mov ecx, 1000
	loop $
	cli
	EXPECT dword [timer_count], 2, 13
	APIC_GUEST_END "apicdeadline"

timer_handler:
	push eax
	push edx
	rdtsc
	mov [tsc_in_handler], eax
	mov [tsc_in_handler + 4], edx
	inc dword [timer_count]
	mov dword [APIC + APIC_EOI], 0
	pop edx
	pop eax
	iretd

deadline:	dq 0
tsc_in_handler:	dq 0
timer_count:	dd 0
