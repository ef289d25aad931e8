; The I/O APIC at 0xFEC00000 (multiboot kernel on the PC machine with QEMU's pc-testdev): the version
; register (24 entries), the ID register, every entry masked after reset, read-only delivery status and
; remote IRR; the PIT's IRQ 0 on pin 2 counted at its vector with an EOI each, none while the pin is masked;
; a level-triggered pin driven through pc-testdev's IRQ port: remote IRR set on delivery and cleared by the
; local APIC's EOI, delivered again when the line is still asserted at the EOI, held back while masked and
; delivered on unmask; an edge seen while its pin is masked is lost. The 8259A and LINT0 stay masked.
%define IMAGE_BASE	0x100000
%include "guest.inc"
%include "sys.inc"
%include "apic.inc"
	bits 32
	org 0x100000

%define IOAPIC		0xFEC00000
%define IOREGSEL	0x00
%define IOWIN		0x10
%define IOAPIC_ID	0x00
%define IOAPIC_VER	0x01
%define REDIR_LO(p)	(0x10 + 2 * (p))
%define REDIR_HI(p)	(0x11 + 2 * (p))
%define RTE_BUSY	0x1000
%define RTE_REMOTE_IRR	0x4000
%define RTE_LEVEL	0x8000
%define RTE_MASKED	0x10000
%define APIC_TMR	0x180
%define PIT_CH0		0x40
%define PIT_MODE	0x43
%define PIT_COUNT	200
%define PIT_PIN		2		; ISA IRQ 0, as the MADT's interrupt-source override says
%define LEVEL_PIN	10
%define EDGE_PIN	11
%define TESTDEV_IRQ	0x2000		; pc-testdev: a byte write to 0x2000 + n sets ISA IRQ line n
%define TIMER_VECTOR	0x30
%define LEVEL_VECTOR	0x31
%define EDGE_VECTOR	0x32
%define VECTOR_BIT(v)	(1 << ((v) & 31))
%define TIMER_TICKS	3

; eax = I/O APIC register %1
%macro IOAPIC_READ 1
	mov dword [IOAPIC + IOREGSEL], %1
	mov eax, [IOAPIC + IOWIN]
%endmacro

%macro IOAPIC_WRITE 2
	mov dword [IOAPIC + IOREGSEL], %1
	mov dword [IOAPIC + IOWIN], %2
%endmacro

; pc-testdev sets ISA IRQ line %1 to level %2.
%macro SET_LINE 2
	mov dx, TESTDEV_IRQ + %1
	mov al, %2
	out dx, al
%endmacro

; Takes whatever the local APIC holds, then closes the window again.
%macro TAKE_PENDING 0
	sti
	nop
	cli
%endmacro

	APIC_GUEST_START
	SET_GATE TIMER_VECTOR, timer_handler, 0
	SET_GATE LEVEL_VECTOR, level_handler, 0
	SET_GATE EDGE_VECTOR, edge_handler, 0
	mov dword [APIC + APIC_SVR], SVR_ON
	mov dword [APIC + APIC_LVT_LINT0], LVT_MASKED | LVT_EXTINT

	; 24 entries (highest 23); version 0x11 (QEMU's newer machines have 0x20)
	IOAPIC_READ IOAPIC_VER
	mov ebx, eax
	shr ebx, 16
	and ebx, 0xFF
	EXPECT ebx, 0x17, 1
	and eax, 0xFF
	cmp eax, 0x20
	je .version_ok
	EXPECT eax, 0x11, 2
.version_ok:
	; the ID is bits 27:24
	IOAPIC_READ IOAPIC_ID
	mov esi, eax
	IOAPIC_WRITE IOAPIC_ID, 0x0A000000
	IOAPIC_READ IOAPIC_ID
	and eax, 0x0F000000
	EXPECT eax, 0x0A000000, 3
	IOAPIC_WRITE IOAPIC_ID, esi
	; every entry masked after reset
	mov ecx, REDIR_LO(0)
.reset_masked:
	mov [IOAPIC + IOREGSEL], ecx
	test dword [IOAPIC + IOWIN], RTE_MASKED
	jnz .next_entry
	GUEST_EXIT 4
.next_entry:
	add ecx, 2
	cmp ecx, REDIR_LO(24)
	jb .reset_masked
	; delivery status and remote IRR are read-only
	IOAPIC_WRITE REDIR_LO(PIT_PIN), RTE_MASKED | RTE_REMOTE_IRR | RTE_BUSY | TIMER_VECTOR
	IOAPIC_READ REDIR_LO(PIT_PIN)
	EXPECT eax, RTE_MASKED | TIMER_VECTOR, 5
	; every message goes to this CPU's APIC ID, physical destination
	mov edi, [APIC + APIC_ID]
	and edi, 0xFF000000
	IOAPIC_WRITE REDIR_HI(PIT_PIN), edi
	IOAPIC_READ REDIR_HI(PIT_PIN)
	EXPECT eax, edi, 6
	IOAPIC_WRITE REDIR_HI(LEVEL_PIN), edi
	IOAPIC_WRITE REDIR_HI(EDGE_PIN), edi

	; the PIT's rate generator on pin 2, edge-triggered: TIMER_TICKS interrupts, each with an EOI
	mov al, 0x34
	out PIT_MODE, al
	mov al, PIT_COUNT & 0xFF
	out PIT_CH0, al
	mov al, PIT_COUNT >> 8
	out PIT_CH0, al
	IOAPIC_WRITE REDIR_LO(PIT_PIN), TIMER_VECTOR
.tick:
	sti
	hlt
	cli
	cmp dword [timer_count], TIMER_TICKS
	jb .tick
	EXPECT dword [timer_tmr], 0, 7		; edge: the TMR bit stays clear

	; masked: three PIT periods pass without an interrupt
	IOAPIC_WRITE REDIR_LO(PIT_PIN), RTE_MASKED | TIMER_VECTOR
	TAKE_PENDING				; one that came before the mask
	mov ebx, [timer_count]
	sti
	mov ecx, 3
	call wait_pit_periods
	cli
	EXPECT dword [timer_count], ebx, 8
	; unmasked: it comes back, polled period by period (a HLT that a single step runs together with STI
	; does not wait under KVM on TCG; QEMU's timer may run late behind the count the guest reads)
	IOAPIC_WRITE REDIR_LO(PIT_PIN), TIMER_VECTOR
	mov esi, 1000
	sti
.wait_back:
	cmp dword [timer_count], ebx
	ja .timer_back
	mov ecx, 1
	call wait_pit_periods
	dec esi
	jnz .wait_back
	GUEST_EXIT 9
.timer_back:
	cli
	IOAPIC_WRITE REDIR_LO(PIT_PIN), RTE_MASKED | TIMER_VECTOR
	TAKE_PENDING

	; level-triggered: remote IRR set on delivery (with IF clear the message waits in the APIC's IRR)
	IOAPIC_WRITE REDIR_LO(LEVEL_PIN), RTE_LEVEL | LEVEL_VECTOR
	IOAPIC_READ REDIR_LO(LEVEL_PIN)
	EXPECT eax, RTE_LEVEL | LEVEL_VECTOR, 10
	mov dword [level_lower_at], 1		; the handler lowers the line on its first run
	SET_LINE LEVEL_PIN, 1
	IOAPIC_READ REDIR_LO(LEVEL_PIN)
	EXPECT eax, RTE_REMOTE_IRR | RTE_LEVEL | LEVEL_VECTOR, 11
	mov eax, [APIC + APIC_IRR + 0x10]
	and eax, VECTOR_BIT(LEVEL_VECTOR)
	EXPECT eax, VECTOR_BIT(LEVEL_VECTOR), 12
	mov eax, [APIC + APIC_TMR + 0x10]
	and eax, VECTOR_BIT(LEVEL_VECTOR)
	EXPECT eax, VECTOR_BIT(LEVEL_VECTOR), 13
	TAKE_PENDING
	EXPECT dword [level_count], 1, 14
	EXPECT dword [level_remote], RTE_REMOTE_IRR, 15	; set while the handler ran
	IOAPIC_READ REDIR_LO(LEVEL_PIN)
	EXPECT eax, RTE_LEVEL | LEVEL_VECTOR, 16	; the EOI cleared it

	; still asserted at the EOI: delivered again (the handler lowers the line on its second run)
	mov dword [level_count], 0
	mov dword [level_lower_at], 2
	SET_LINE LEVEL_PIN, 1
	TAKE_PENDING
	EXPECT dword [level_count], 2, 17
	IOAPIC_READ REDIR_LO(LEVEL_PIN)
	EXPECT eax, RTE_LEVEL | LEVEL_VECTOR, 18

	; masked: the asserted line waits, unmasking delivers it
	IOAPIC_WRITE REDIR_LO(LEVEL_PIN), RTE_MASKED | RTE_LEVEL | LEVEL_VECTOR
	mov dword [level_count], 0
	mov dword [level_lower_at], 1
	SET_LINE LEVEL_PIN, 1
	IOAPIC_READ REDIR_LO(LEVEL_PIN)
	EXPECT eax, RTE_MASKED | RTE_LEVEL | LEVEL_VECTOR, 19
	TAKE_PENDING
	EXPECT dword [level_count], 0, 20
	IOAPIC_WRITE REDIR_LO(LEVEL_PIN), RTE_LEVEL | LEVEL_VECTOR
	IOAPIC_READ REDIR_LO(LEVEL_PIN)
	EXPECT eax, RTE_REMOTE_IRR | RTE_LEVEL | LEVEL_VECTOR, 21
	TAKE_PENDING
	EXPECT dword [level_count], 1, 22
	IOAPIC_WRITE REDIR_LO(LEVEL_PIN), RTE_MASKED | LEVEL_VECTOR

	; edge: an edge while masked is lost, the next one after unmasking is delivered
	IOAPIC_WRITE REDIR_LO(EDGE_PIN), RTE_MASKED | EDGE_VECTOR
	SET_LINE EDGE_PIN, 1
	SET_LINE EDGE_PIN, 0
	IOAPIC_WRITE REDIR_LO(EDGE_PIN), EDGE_VECTOR
	TAKE_PENDING
	EXPECT dword [edge_count], 0, 23
	SET_LINE EDGE_PIN, 1
	TAKE_PENDING
	EXPECT dword [edge_count], 1, 24
	SET_LINE EDGE_PIN, 0
	APIC_GUEST_END "ioapic"

; Waits until the PIT's channel 0 has reloaded ecx times (its count went up), reading it through the
; latch command: time passes with every port access, whichever clock drives the PIT.
wait_pit_periods:
	push ebx
	push ecx
	call pit_read
.again:
	mov ebx, eax
	call pit_read
	cmp eax, ebx
	jbe .again
	loop .again
	pop ecx
	pop ebx
	ret

; eax = channel 0's count
pit_read:
	xor eax, eax
	out PIT_MODE, al			; latch channel 0
	in al, PIT_CH0
	mov ah, al
	in al, PIT_CH0
	xchg al, ah
	ret

timer_handler:
	push eax
	inc dword [timer_count]
	mov eax, [APIC + APIC_TMR + 0x10]
	and eax, VECTOR_BIT(TIMER_VECTOR)
	or [timer_tmr], eax
	mov dword [APIC + APIC_EOI], 0
	pop eax
	iretd

; Counts, notes remote IRR, lowers the line on run [level_lower_at], then the EOI.
level_handler:
	push eax
	push edx
	inc dword [level_count]
	IOAPIC_READ REDIR_LO(LEVEL_PIN)
	and eax, RTE_REMOTE_IRR
	mov [level_remote], eax
	mov eax, [level_count]
	cmp eax, [level_lower_at]
	jb .eoi
	SET_LINE LEVEL_PIN, 0
.eoi:
	mov dword [APIC + APIC_EOI], 0
	pop edx
	pop eax
	iretd

edge_handler:
	inc dword [edge_count]
	mov dword [APIC + APIC_EOI], 0
	iretd

timer_count:	dd 0
timer_tmr:	dd 0
level_count:	dd 0
level_lower_at:	dd 0
level_remote:	dd 0
edge_count:	dd 0
