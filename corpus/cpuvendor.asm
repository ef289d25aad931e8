; The CPU model as the guest sees it (--cpu): prints the vendor string of leaf 0, the signature of leaf 1
; and its SSE4.2 bit on serial, then checks them: a vendor it knows (GenuineIntel, AuthenticAMD), an AMD
; vendor repeated in leaf 0x80000000 as AMD's CPUs do, and CRC32 computing CRC32C where SSE4.2 is set.
; Exits 0 when all hold, else the number of the check that failed.
%include "guest.inc"
	bits 16
	org 0x7C00

start:
	REAL_MODE_START

	xor eax, eax
	cpuid
	mov [vendor], ebx
	mov [vendor + 4], edx
	mov [vendor + 8], ecx
	cmp eax, 1
	jae .has_leaf1
	GUEST_EXIT 1
.has_leaf1:
	mov si, msg_vendor
	call puts
	mov si, vendor
	call puts

	mov eax, 1
	cpuid
	mov [leaf1_eax], eax
	mov [leaf1_ecx], ecx
	mov si, msg_signature
	call puts
	mov ax, [leaf1_eax + 2]
	call puthex
	mov ax, [leaf1_eax]
	call puthex
	mov si, msg_sse42
	call puts
	mov eax, [leaf1_ecx]
	shr eax, 20
	and al, 1
	add al, '0'
	mov [bit_char], al
	mov si, bit_char
	call puts

	; The vendor: Intel, or AMD with the same string in leaf 0x80000000.
	cmp dword [vendor], 'Genu'
	jne .not_intel
	cmp dword [vendor + 4], 'ineI'
	jne .not_intel
	cmp dword [vendor + 8], 'ntel'
	je .vendor_ok
.not_intel:
	cmp dword [vendor], 'Auth'
	jne .unknown
	cmp dword [vendor + 4], 'enti'
	jne .unknown
	cmp dword [vendor + 8], 'cAMD'
	jne .unknown
	mov eax, 0x80000000
	cpuid
	EXPECT ebx, [vendor], 3
	EXPECT edx, [vendor + 4], 4
	EXPECT ecx, [vendor + 8], 5
	jmp .vendor_ok
.unknown:
	GUEST_EXIT 2
.vendor_ok:

	; SSE4.2 set: CRC32 exists and computes CRC32C ('a' from all ones).
	test dword [leaf1_ecx], 1 << 20
	jz .done
	mov eax, 0xFFFFFFFF
	mov bl, 'a'
	crc32 eax, bl
	EXPECT eax, 0x3E2FBCCF, 6
.done:
	mov si, msg_ok
	call puts
	GUEST_EXIT 0

DEFINE_PUTS puts
DEFINE_PUTHEX puthex

msg_vendor:	db "cpuvendor: vendor ", 0
msg_signature:	db " signature ", 0
msg_sse42:	db " sse4_2 ", 0
msg_ok:		db 13, 10, "cpuvendor: ok", 13, 10, 0
vendor:		times 13 db 0
bit_char:	db 0, 0
align 4
leaf1_eax:	dd 0
leaf1_ecx:	dd 0
