; iretd in 32-bit protected mode to the same privilege level. KVM's in-kernel emulator
; cannot run it (emulation failure); an emulator that can returns to the target with the
; flags image applied (CF set) and the stack popped, and the guest exits 0.
%include "guest.inc"
	bits 16
	org 0x7C00

start:
	REAL_MODE_START
	mov si, msg_start
	call puts16
	ENTER_PM32 pm32

	DEFINE_PUTS puts16

	bits 32
pm32:
	PM32_SEGMENTS
	clc
	pushfd
	or dword [esp], 1		; CF in the image iretd loads
	push dword SEL_CODE32
	push dword after_iret
	mov ebp, esp
	iretd
	GUEST_EXIT 1
after_iret:
	jnc .fail
	lea eax, [ebp + 12]
	EXPECT esp, eax, 2
	mov ax, cs
	EXPECT ax, SEL_CODE32, 3
	mov esi, msg_ok
	call puts32
	GUEST_EXIT 0
.fail:
	GUEST_EXIT 4

	DEFINE_PUTS puts32

	DEFINE_FLAT_GDT
msg_start:	db "pmiret: iretd next", 13, 10, 0
msg_ok:		db "pmiret: ok", 13, 10, 0
