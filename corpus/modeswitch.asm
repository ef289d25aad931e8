; Real mode -> 32-bit protected mode -> long mode (PAE, EFER.LME, CR0.PG) -> a 64-bit loop.
; -DLOOPS=n sets the iteration count; the loop body is 4 instructions.
%include "guest.inc"
%ifndef LOOPS
%define LOOPS 1000
%endif
	bits 16
	org 0x7C00

start:
	REAL_MODE_START
	mov si, msg_real
	call puts16
	ENTER_PM32 pm32

	DEFINE_PUTS puts16

	bits 32
pm32:
	PM32_SEGMENTS
	mov esi, msg_pm32
	call puts32
	; PAE, page tables in the image, EFER.LME, then paging
	mov eax, cr4
	or eax, 1 << 5
	mov cr4, eax
	mov eax, pml4
	mov cr3, eax
	mov ecx, 0xC0000080
	rdmsr
	or eax, 1 << 8
	wrmsr
	mov eax, cr0
	or eax, 1 << 31
	mov cr0, eax
	jmp SEL_CODE64:lm64

	DEFINE_PUTS puts32

	bits 64
lm64:
	mov ecx, 0xC0000080
	rdmsr
	test eax, 1 << 10
	jnz .lma
	GUEST_EXIT 1
.lma:
	mov rsp, 0x7C00
	mov esi, msg_lm
	call puts64
	mov rcx, LOOPS
	xor eax, eax
	xor edx, edx
.loop:
	add rax, rcx
	xor rdx, rax
	dec rcx
	jnz .loop
	mov rbx, LOOPS * (LOOPS + 1) / 2
	EXPECT rax, rbx, 2
	mov esi, msg_done
	call puts64
	GUEST_EXIT 0

	DEFINE_PUTS puts64

	DEFINE_FLAT_GDT
msg_real:	db "modeswitch: real", 13, 10, 0
msg_pm32:	db "modeswitch: pm32", 13, 10, 0
msg_lm:		db "modeswitch: long", 13, 10, 0
msg_done:	db "modeswitch: ok", 13, 10, 0

; Identity map of the first 4 MiB with 2 MiB pages, page-aligned by hand (align 4096 moves start too).
	times (0x1000 - ($ - $$ + 0x7C00) % 0x1000) % 0x1000 db 0
pml4:	dq pdpt + 3
	times 511 dq 0
pdpt:	dq pd + 3
	times 511 dq 0
pd:	dq 0x000083
	dq 0x200083
	times 510 dq 0
