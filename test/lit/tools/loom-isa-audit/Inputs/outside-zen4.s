# Instructions Halide 14's avx512_sapphirerapids feature put into kernels for Zen 4: a VEX
# (AVX-VNNI) dot product and an AVX512-FP16 move; then ones Zen 4 has.
  .text
  .globl kernel
  .type kernel,@function
kernel:
  {vex} vpdpwssd %ymm1, %ymm2, %ymm3
  vmovw %xmm0, %eax
  vpdpwssd %ymm1, %ymm2, %ymm3
  vpdpbusd %zmm1, %zmm2, %zmm3
  vdpbf16ps %zmm1, %zmm2, %zmm3
  vfmadd231ps %ymm1, %ymm2, %ymm3
  retq
  .size kernel, .-kernel
