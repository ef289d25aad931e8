; A multiboot kernel linked at 0x8000 with bss to 0xb000, over where the information used to be fixed
; (0x9000-0xa000): recorded as QEMU's -kernel runs it (`emudiff record --debug-exit qemu --multiboot
; mbinfo.bin --module mbinfo.bin,first --module mbinfo.bin,second=2`). Checks what EBX points at: the flags,
; memory sizes, boot device, the command line (its first word the kernel's name), two modules (page aligned
; after the information, each this very file, their strings), the memory map, the boot loader name; and
; what the firmware leaves: the 8259A masks and every real-mode vector at the IRET at F000:FF53. Exits
; QEMU's way: status (value << 1) | 1, so 1 is a pass.
%include "guest.inc"
	bits 32
	org 0x8000

%define BSS_END		0xB000
%define MB_FLAGS_WANT	0x24F		; memory, boot device, cmdline, modules, mmap, loader name

mb_header:
	dd 0x1BADB002
	dd 0x00010003			; address fields; page-aligned modules, memory information
	dd -(0x1BADB002 + 0x00010003)
	dd mb_header
	dd mb_header
	dd 0				; load_end_addr: the whole file
	dd BSS_END
	dd entry

entry:
	mov esp, 0x7000
	EXPECT eax, 0x2BADB002, 1
	; the information lies after the kernel and its bss, page aligned
	cmp ebx, BSS_END
	jb fail_2
	test ebx, 0xFFF
	jnz fail_2
	mov eax, [ebx]
	and eax, MB_FLAGS_WANT
	EXPECT eax, MB_FLAGS_WANT, 3
	EXPECT dword [ebx + 4], 639, 4
	cmp dword [ebx + 8], 1024
	jb fail_5
	EXPECT dword [ebx + 12], 0x8000FFFF, 6
	; the command line starts with the kernel's name
	mov esi, [ebx + 16]
	mov edi, name
	mov ecx, name_len
	repe cmpsb
	jne fail_7
	; the boot loader's name
	mov esi, [ebx + 64]
	mov edi, loader
	mov ecx, loader_len
	repe cmpsb
	jne fail_8
	; the memory map: four 24-byte entries, the first RAM from 0 to 0x9fc00
	EXPECT dword [ebx + 44], 96, 9
	mov esi, [ebx + 48]
	EXPECT dword [esi], 20, 10
	EXPECT dword [esi + 4], 0, 10
	EXPECT dword [esi + 12], 0x9FC00, 10
	EXPECT dword [esi + 20], 1, 10
	; two modules
	EXPECT dword [ebx + 20], 2, 11
	mov ebp, [ebx + 24]
	mov edi, mod1_string
	mov edx, mod1_len
	call check_module
	EXPECT eax, 0, 12
	mov eax, [ebp + 4]		; the second after the first, page aligned
	add ebp, 16
	cmp [ebp], eax
	jb fail_13
	mov edi, mod2_string
	mov edx, mod2_len
	call check_module
	EXPECT eax, 0, 14
	; the firmware's state
	in al, 0x21
	EXPECT al, 0xB8, 15
	in al, 0xA1
	EXPECT al, 0x8E, 16
	EXPECT dword [0x08 * 4], 0xF000FF53, 17
	EXPECT dword [0xFF * 4], 0xF000FF53, 17
	EXPECT byte [0xFFF53], 0xCF, 18
	mov esi, msg_ok
	call puts32
	GUEST_EXIT 0

fail_2:
	GUEST_EXIT 2
fail_5:
	GUEST_EXIT 5
fail_7:
	GUEST_EXIT 7
fail_8:
	GUEST_EXIT 8
fail_13:
	GUEST_EXIT 13

; The module entry at ebp: page aligned, above the information, this file's bytes, its string at edi
; (edx bytes with the NUL). eax = 0 when all holds.
check_module:
	mov eax, 1
	mov esi, [ebp]
	test esi, 0xFFF
	jnz .done
	cmp esi, ebx
	jbe .done
	mov ecx, [ebp + 4]
	sub ecx, esi
	cmp ecx, image_end - mb_header
	jne .done
	push edi
	mov edi, mb_header
	mov ecx, entry - mb_header
	repe cmpsb
	pop edi
	jne .done
	mov esi, [ebp + 8]
	mov ecx, edx
	repe cmpsb
	jne .done
	xor eax, eax
.done:
	ret

	DEFINE_PUTS puts32

name:		db "mbinfo"
name_len	equ $ - name
loader:		db "emudiff", 0
loader_len	equ $ - loader
mod1_string:	db "mbinfo.bin first", 0
mod1_len	equ $ - mod1_string
mod2_string:	db "mbinfo.bin second=2", 0
mod2_len	equ $ - mod2_string
msg_ok:		db "mbinfo: ok", 13, 10, 0
image_end:
