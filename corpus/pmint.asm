; int 0x40 in 32-bit protected mode through an IDT interrupt gate (DPL 0), handler checks
; its frame and returns with iretd. KVM's in-kernel emulator cannot run int n (emulation
; failure); an emulator that can takes the gate, and the guest exits 0.
%include "guest.inc"
	bits 16
	org 0x7C00

%define IDT_BASE	0x1000		; 256 gates, built at run time

start:
	REAL_MODE_START
	mov si, msg_start
	call puts16
	ENTER_PM32 pm32

	DEFINE_PUTS puts16

	bits 32
pm32:
	PM32_SEGMENTS
	; gate 0x40: handler offset, code selector, present interrupt gate DPL 0
	mov eax, int40_handler
	mov edi, IDT_BASE + 0x40 * 8
	mov [edi], ax
	mov word [edi + 2], SEL_CODE32
	mov word [edi + 4], 0x8E00
	shr eax, 16
	mov [edi + 6], ax
	lidt [idt_desc]
	mov eax, 7
	mov ebp, esp
	stc
	int 0x40
.ret:
	jnc .fail_cf
	EXPECT eax, 49, 1
	EXPECT esp, ebp, 2
	EXPECT dword [frame_eip], .ret, 3
	EXPECT dword [frame_cs], SEL_CODE32, 4
	mov esi, msg_ok
	call puts32
	GUEST_EXIT 0
.fail_cf:
	GUEST_EXIT 5

int40_handler:
	mov ebx, [esp]
	mov [frame_eip], ebx
	mov ebx, [esp + 4]
	mov [frame_cs], ebx
	imul eax, eax
	iretd

	DEFINE_PUTS puts32

	DEFINE_FLAT_GDT
idt_desc:
	dw 256 * 8 - 1
	dd IDT_BASE
frame_eip:	dd 0
frame_cs:	dd 0
msg_start:	db "pmint: int 0x40 next", 13, 10, 0
msg_ok:		db "pmint: ok", 13, 10, 0
