; x2APIC mode (multiboot kernel on the PC machine): the x2APIC MSRs raise #GP until IA32_APIC_BASE sets
; EXTD; then ID, version, LDR (derived from the ID), SVR, TPR/PPR and the timer are MSRs, the xAPIC page
; reads all ones, a SELF IPI (0x83F) and a 64-bit ICR write (0x830) reach the CPU, EOI is a WRMSR of 0, and
; RDMSR of write-only or absent registers (EOI, SELF IPI, DFR, ICR high half) raises #GP. A WRMSR before
; EXTD, or to a read-only register (version), raises #GP too: a replay must raise it where the recording did.
%define IMAGE_BASE	0x100000
%include "guest.inc"
%include "sys.inc"
%include "apic.inc"
	bits 32
	org 0x100000

%define X2_ID		0x802
%define X2_VER		0x803
%define X2_TPR		0x808
%define X2_PPR		0x80A
%define X2_EOI		0x80B
%define X2_LDR		0x80D
%define X2_DFR		0x80E
%define X2_SVR		0x80F
%define X2_IRR2		0x822
%define X2_ICR		0x830
%define X2_ICR_HIGH	0x831
%define X2_LVT_TIMER	0x832
%define X2_TMICT	0x838
%define X2_TMCCT	0x839
%define X2_TDCR		0x83E
%define X2_SELF_IPI	0x83F

; RDMSR of %1 must raise #GP (check %2).
%macro RDMSR_GP 2
	mov ecx, %1
	mov dword [gp_count], 0
	rdmsr
	EXPECT dword [gp_count], 1, %2
%endmacro

; WRMSR %1 <- %2 must raise #GP (check %3).
%macro WRMSR_GP 3
	mov ecx, %1
	mov eax, %2
	xor edx, edx
	mov dword [gp_count], 0
	wrmsr
	EXPECT dword [gp_count], 1, %3
%endmacro

; WRMSR %1 <- %2 (high half 0).
%macro WRMSR32 2
	mov ecx, %1
	mov eax, %2
	xor edx, edx
	wrmsr
%endmacro

	APIC_GUEST_START
	SET_GATE 13, gp_handler, 0
	SET_GATE 0x50, handler50, 0
	SET_GATE 0x51, handler51, 0
	SET_GATE 0x60, timer_handler, 0
	mov eax, [APIC + APIC_VER]
	mov [xapic_version], eax

	; xAPIC mode: the x2APIC MSRs do not exist
	RDMSR_GP X2_VER, 1
	WRMSR_GP X2_TPR, 0x30, 21
	; IA32_APIC_BASE: BSP, enabled, at 0xFEE00000; then EXTD
	mov ecx, MSR_APIC_BASE
	rdmsr
	and eax, 0xFFFFF000 | APIC_BASE_EN | 0x100
	EXPECT eax, 0xFEE00000 | APIC_BASE_EN | 0x100, 2
	or eax, APIC_BASE_EXTD
	wrmsr

	mov ecx, X2_VER
	rdmsr
	EXPECT eax, [xapic_version], 3
	mov ecx, X2_ID
	rdmsr
	EXPECT eax, 0, 4
	mov ecx, X2_LDR
	rdmsr
	EXPECT eax, 1, 5				; cluster 0, bit 0 for ID 0
	EXPECT dword [APIC + APIC_VER], 0xFFFFFFFF, 6	; the page is not decoded in x2APIC mode
	WRMSR32 X2_SVR, SVR_ON
	mov ecx, X2_SVR
	rdmsr
	EXPECT eax, SVR_ON, 7

	; SELF IPI with IF clear: the IRR (vector 0x50 = bit 16 of IRR word 2), then taken
	WRMSR32 X2_SELF_IPI, 0x50
	mov ecx, X2_IRR2
	rdmsr
	EXPECT eax, 0x10000, 8
	sti
	nop
	cli
	EXPECT dword [count50], 1, 9
	; ICR as one 64-bit MSR: destination (own x2APIC ID 0) in the high half
	mov ecx, X2_ICR
	mov eax, 0x51
	xor edx, edx
	wrmsr
	sti
	nop
	cli
	EXPECT dword [count51], 1, 10
	mov ecx, X2_ICR
	rdmsr
	EXPECT eax, 0x51, 11
	EXPECT edx, 0, 12

	; TPR through the MSR
	WRMSR32 X2_TPR, 0x30
	mov ecx, X2_PPR
	rdmsr
	EXPECT eax, 0x30, 13
	WRMSR32 X2_TPR, 0
	; a read-only register: WRMSR raises #GP
	WRMSR_GP X2_VER, 0, 22

	; write-only and absent registers
	RDMSR_GP X2_EOI, 14
	RDMSR_GP X2_SELF_IPI, 15
	RDMSR_GP X2_DFR, 16
	RDMSR_GP X2_ICR_HIGH, 17
	RDMSR_GP 0x8FF, 18

	; the timer through the MSRs: one-shot, divide by 1
	WRMSR32 X2_TDCR, 0xB
	WRMSR32 X2_LVT_TIMER, 0x60
	WRMSR32 X2_TMICT, 400
	mov ecx, X2_TMCCT
	rdmsr
	EXPECT_RANGE eax, 1, 399, 19
	sti
	hlt
	cli
	EXPECT dword [timer_count], 1, 20
	APIC_GUEST_END "apicx2"

; #GP from RDMSR or WRMSR: count it and skip the two-byte instruction.
gp_handler:
	inc dword [gp_count]
	add dword [esp + 4], 2
	add esp, 4
	iretd
handler50:
	inc dword [count50]
	jmp x2_eoi
handler51:
	inc dword [count51]
	jmp x2_eoi
timer_handler:
	inc dword [timer_count]
x2_eoi:
	push eax
	push ecx
	push edx
	WRMSR32 X2_EOI, 0
	pop edx
	pop ecx
	pop eax
	iretd

xapic_version:	dd 0
gp_count:	dd 0
count50:	dd 0
count51:	dd 0
timer_count:	dd 0
