; Unreal mode: DS, ES and SS loaded with 4 GiB data segments in protected mode keep their limit back in
; real mode; 32-bit addresses above 1 MiB then work through them (loads, stores, a32 rep movsd), a real-
; mode segment load changes only the base, and FS, never loaded in protected mode, still faults (#GP
; through the IVT) past 64 KiB. Exits 0.
%include "guest.inc"
	bits 16
	org 0x7C00

%define HIGH	0x200000

start:
	cli
	xor ax, ax
	mov ds, ax
	mov es, ax
	mov fs, ax
	mov ss, ax
	mov sp, 0x7C00
	SET_IVT 13, gp_handler
	; into protected mode only to load the data segments, and straight back
	lgdt [gdt_desc]
	mov eax, cr0
	or al, 1
	mov cr0, eax
	mov bx, SEL_DATA
	mov ds, bx
	mov es, bx
	and al, 0xFE
	mov cr0, eax
	xor ax, ax
	mov ds, ax
	mov es, ax

	mov dword [dword HIGH], 0x12345678
	mov eax, [dword HIGH]
	EXPECT eax, 0x12345678, 1
	mov ebx, HIGH + 0x100
	mov word [ebx], 0xBEEF
	EXPECT word [dword HIGH + 0x100], 0xBEEF, 2
	; a real-mode load changes the base (selector * 16), the limit stays 4 GiB
	mov ax, 0x1000
	mov ds, ax
	mov eax, [dword HIGH - 0x10000]
	EXPECT eax, 0x12345678, 3
	xor ax, ax
	mov ds, ax
	; a32 string copy above 1 MiB
	mov esi, HIGH
	mov edi, HIGH + 0x1000
	mov ecx, 4
	cld
	a32 rep movsd
	EXPECT esi, HIGH + 16, 4
	EXPECT dword [dword HIGH + 0x1000], 0x12345678, 5
	; FS kept its real-mode 64 KiB limit: #GP, resumed after the access
	mov word [gp_resume], .after_gp
.fs_access:
	mov eax, [fs:dword HIGH]
	GUEST_EXIT 6
.after_gp:
	EXPECT word [gp_count], 1, 7
	EXPECT word [gp_ip], .fs_access, 8
	mov si, msg_ok
	call puts
	GUEST_EXIT 0

gp_handler:
	push bp
	mov bp, sp
	mov ax, [bp + 2]
	mov [gp_ip], ax
	mov ax, [gp_resume]
	mov [bp + 2], ax
	inc word [gp_count]
	pop bp
	iret

	DEFINE_PUTS puts

	DEFINE_FLAT_GDT
gp_resume:	dw 0
gp_ip:		dw 0
gp_count:	dw 0
msg_ok:		db "unreal: ok", 13, 10, 0
