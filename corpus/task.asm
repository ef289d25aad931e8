; Task switches in 32-bit protected mode: JMP to a TSS (task A -> B: A's busy bit cleared, B's set,
; CR0.TS set, B's registers loaded), CALL to a TSS (B -> C: back link, NT set, B stays busy), IRETD with
; NT=1 (task return C -> B), JMP back to A (A's registers as saved by the first JMP). KVM's in-kernel
; emulator cannot run the far JMP to a TSS (emulation failure); recorded with --fallback emu the guest
; exits 0.
%include "guest.inc"
%include "sys.inc"
	bits 16
	org 0x7C00

%define NT	0x4000

start:
	REAL_MODE_START
	mov si, msg_start
	call puts16
	ENTER_SYS_PM32 pm32

	DEFINE_PUTS puts16

	bits 32
pm32:
	SYS_SETUP unexpected
	mov ebx, TSSB
	mov dword [ebx + TSS_EIP], task_b
	mov dword [ebx + TSS_ESP], 0x5800
	mov dword [ebx + TSS_EAX], 0xB0B0B0B0
	call init_tss
	mov ebx, TSSC
	mov dword [ebx + TSS_EIP], task_c
	mov dword [ebx + TSS_ESP], 0x5400
	mov dword [ebx + TSS_EAX], 0xC0C0C0C0
	call init_tss
	mov ecx, 0x12345678
	mov esi, 0x5A5A5A5A
	mov ebp, esp
	jmp SEL_TSSB:0
task_a_again:
	; A resumes with the registers its TSS saved at the JMP
	EXPECT ecx, 0x12345678, 1
	EXPECT esi, 0x5A5A5A5A, 2
	EXPECT esp, ebp, 3
	str ax
	EXPECT ax, SEL_TSSA, 4
	EXPECT byte [sys_gdt + SEL_TSSA + 5], 0x8B, 5
	EXPECT byte [sys_gdt + SEL_TSSB + 5], 0x89, 6
	EXPECT dword [TSSA + TSS_EIP], task_a_again, 7
	EXPECT dword [TSSB + TSS_EIP], task_b.after_jmp, 8
	EXPECT dword [c_ran], 1, 9
	mov eax, cr0
	test eax, 8
	jz fail_ts
	clts
	mov esi, msg_ok
	call puts32
	GUEST_EXIT 0
fail_ts:
	GUEST_EXIT 10

; Flat ring-0 segments, EFLAGS 2, CR3 as now, in the TSS at ebx.
init_tss:
	mov dword [ebx + TSS_EFLAGS], 2
	mov dword [ebx + TSS_CS], SEL_CODE0
	mov eax, SEL_DATA0
	mov [ebx + TSS_SS], eax
	mov [ebx + TSS_DS], eax
	mov [ebx + TSS_ES], eax
	mov [ebx + TSS_FS], eax
	mov [ebx + TSS_GS], eax
	mov eax, cr3
	mov [ebx + TSS_CR3], eax
	mov word [ebx + TSS_IOMAP], 0x68
	ret

task_b:
	EXPECT eax, 0xB0B0B0B0, 20
	EXPECT esp, 0x5800, 21
	str ax
	EXPECT ax, SEL_TSSB, 22
	EXPECT byte [sys_gdt + SEL_TSSA + 5], 0x89, 23
	EXPECT byte [sys_gdt + SEL_TSSB + 5], 0x8B, 24
	EXPECT dword [TSSA + TSS_EIP], task_a_again, 25
	EXPECT dword [TSSA + TSS_ECX], 0x12345678, 26
	pushfd
	pop eax
	test eax, NT
	jnz .fail_nt
	mov edx, 0xBBBB
	call SEL_TSSC:0
	; back from C by its IRETD: B's registers, NT clear, C no longer busy
	EXPECT edx, 0xBBBB, 27
	EXPECT esp, 0x5800, 28
	str ax
	EXPECT ax, SEL_TSSB, 29
	EXPECT byte [sys_gdt + SEL_TSSC + 5], 0x89, 30
	EXPECT byte [sys_gdt + SEL_TSSB + 5], 0x8B, 31
	EXPECT dword [TSSC + TSS_LINK], SEL_TSSB, 32
	pushfd
	pop eax
	test eax, NT
	jnz .fail_nt
	jmp SEL_TSSA:0
.after_jmp:
	GUEST_EXIT 33
.fail_nt:
	GUEST_EXIT 34

task_c:
	EXPECT eax, 0xC0C0C0C0, 40
	str ax
	EXPECT ax, SEL_TSSC, 41
	EXPECT dword [TSSC + TSS_LINK], SEL_TSSB, 42
	EXPECT byte [sys_gdt + SEL_TSSB + 5], 0x8B, 43
	EXPECT byte [sys_gdt + SEL_TSSC + 5], 0x8B, 44
	pushfd
	pop eax
	test eax, NT
	jz .fail_nt
	mov dword [c_ran], 1
	iretd
	GUEST_EXIT 45
.fail_nt:
	GUEST_EXIT 46

unexpected:
	GUEST_EXIT 0x7F

	DEFINE_PUTS puts32

	DEFINE_SYS_GDT unexpected
	DEFINE_SYS_IDT_DESC
c_ran:		dd 0
msg_start:	db "task: jmp to a TSS next", 13, 10, 0
msg_ok:		db "task: ok", 13, 10, 0
