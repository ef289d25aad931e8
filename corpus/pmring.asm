; Privilege transfers in 32-bit protected mode: a CALL through the call gate at CPL 0 (same privilege,
; no stack switch) and RETF; IRETD to ring 3 nulls the DPL 0 data segments; an
; exception (UD2) from ring 3 to ring 0 (stack switch from the TSS); RETF to ring 3 nulls DS; a ring-3
; CALL through a call gate to ring 0 and RETF back; UD2 to ring 0 again. (INT n at CPL 3 is not used:
; KVM on PVM raises #UD for it.) KVM's in-kernel emulator cannot run the CPL 0 gate call, the IRETD and
; the RETF to ring 3 (emulation failures).
; Recorded with --fallback emu it goes on; at CPL 3 KVM on PVM raises #UD for the CALL through the gate
; (no emulation-failure exit, so no fallback) where silicon takes the gate: the guest then exits 30.
%include "guest.inc"
%include "sys.inc"
	bits 16
	org 0x7C00

%define MAGIC	0x600DCA11

start:
	REAL_MODE_START
	mov si, msg_start
	call puts16
	ENTER_SYS_PM32 pm32

	DEFINE_PUTS puts16

	bits 32
pm32:
	SYS_SETUP unexpected
	SET_GATE 6, ud_handler, 0
	; the call gate at CPL 0: same privilege, no stack switch
	mov ebx, esp
	xor eax, eax
	call SEL_GATE3:0
	EXPECT eax, MAGIC, 50
	EXPECT esp, ebx, 51
	; DS, ES, FS, GS hold the DPL 0 data segment: IRETD to ring 3 makes them null
	IRET_TO_RING3 ring3

ring3:
	call check_ring3
	mov ax, es
	EXPECT ax, 0, 5
	mov ax, fs
	EXPECT ax, 0, 6
	mov ax, gs
	EXPECT ax, 0, 7
	mov ax, SEL_DATA3
	mov ds, ax
	mov es, ax
	; back to ring 0 through #UD, whose handler returns to ring3_retf with RETF
	mov ebx, esp
ud_1:
	ud2

ring3_retf:
	call check_ring3
	mov ax, SEL_DATA3
	mov ds, ax
	; through the call gate to ring 0 and back with RETF
	mov ebx, esp
	xor eax, eax
gate_call:
	call SEL_GATE3:0
.back:
	EXPECT eax, MAGIC, 9
	call check_ring3		; the gate target loaded the DPL 0 data segment: RETF nulled DS
	mov ax, SEL_DATA3
	mov ds, ax
	EXPECT dword [gate_frame], .back, 13
	EXPECT dword [gate_frame + 4], SEL_CODE3, 14
	EXPECT dword [gate_frame + 8], ebx, 15
	EXPECT dword [gate_frame + 12], SEL_DATA3, 16
	EXPECT dword [gate_esp], STACK0 - 16, 17
	mov ebx, esp
ud_2:
	ud2

; At ring 3 after a return from ring 0: CS, SS, ESP as pushed, DS null.
check_ring3:
	mov ax, cs
	EXPECT ax, SEL_CODE3, 1
	mov ax, ss
	EXPECT ax, SEL_DATA3, 2
	EXPECT esp, STACK3 - 4, 3
	mov ax, ds
	EXPECT ax, 0, 4
	ret

; The ring-0 side of #UD from ring 3: the frame is EIP, CS, EFLAGS, ESP, SS on the TSS's ring-0 stack.
%macro CHECK_INT_FRAME 1
	mov ax, ss
	EXPECT ax, SEL_DATA0, %1
	EXPECT esp, STACK0 - 20, %1 + 1
	EXPECT dword [esp + 4], SEL_CODE3, %1 + 2
	EXPECT dword [esp + 12], ebx, %1 + 3
	EXPECT dword [esp + 16], SEL_DATA3, %1 + 4
	mov eax, [esp + 8]
	and eax, 0x3000
	EXPECT eax, 0x3000, %1 + 5
%endmacro

ud_handler:
	cmp dword [esp], ud_2
	je ud_second
	cmp dword [esp], gate_call
	je gate_refused
	EXPECT dword [esp], ud_1, 8
	CHECK_INT_FRAME 20
	; RETF to ring 3 with DS holding a DPL 0 segment
	mov ax, SEL_DATA0
	mov ds, ax
	push dword SEL_DATA3
	push dword STACK3
	push dword SEL_CODE3
	push dword ring3_retf
	retf

ud_second:
	CHECK_INT_FRAME 40
	PM32_SEGMENTS
	mov esi, msg_ok
	call puts32
	GUEST_EXIT 0

call_gate_target:
	test byte [esp + 4], 3
	jnz .from_ring3
	mov eax, MAGIC
	retf
.from_ring3:
	mov ax, ss
	cmp ax, SEL_DATA0
	jne .bad_ss
	mov [gate_esp], esp
	mov eax, [esp]
	mov [gate_frame], eax
	mov eax, [esp + 4]
	mov [gate_frame + 4], eax
	mov eax, [esp + 8]
	mov [gate_frame + 8], eax
	mov eax, [esp + 12]
	mov [gate_frame + 12], eax
	mov ax, SEL_DATA0
	mov ds, ax
	mov eax, MAGIC
	retf
.bad_ss:
	GUEST_EXIT 19

; #UD on the call through the gate (KVM on PVM) ends the run with 30.
gate_refused:
	PM32_SEGMENTS
	mov esi, msg_gate
	call puts32
	GUEST_EXIT 30

unexpected:
	GUEST_EXIT 0x7F

	DEFINE_PUTS puts32

	DEFINE_SYS_GDT call_gate_target
	DEFINE_SYS_IDT_DESC
gate_esp:	dd 0
gate_frame:	dd 0, 0, 0, 0
msg_start:	db "pmring: iretd to ring 3 next", 13, 10, 0
msg_gate:	db "pmring: #UD on the call through the gate", 13, 10, 0
msg_ok:		db "pmring: ok", 13, 10, 0
