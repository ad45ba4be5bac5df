/* Block layouts of lstmc's weight encodings, and their scalar decoders.
 *
 * This header is the single description of how weight codes sit in memory. It is included by the C code
 * and pasted unchanged into the CUDA sources that NVRTC compiles (codegen/cuda), so it uses no includes,
 * no libc and only the LX_FN qualifier below.
 *
 * A weight matrix has `rows` rows; each row holds `n` value slots (n = cols for dense and masked
 * layouts, n = groups for the column-packed layout). Row r's codes start at byte r * stride, where
 * stride = lx_row_bytes(enc, n). Quantized encodings carry one float scale per row: w = code * scale[r].
 *
 *   enc       bits  code → value
 *   F32        32   IEEE float
 *   BF16       16   upper half of an IEEE float (round to nearest even when encoding)
 *   Q8          8   int8 in [-127, 127], times scale
 *   Q4          4   int4 in [-7, 7], two per byte, slot 2k in the low nibble, times scale
 *   TERNARY     2   0 → 0, 1 → +1, 2 → -1 (3 unused), four per byte, slot 4k in the low bits, times scale
 *   BINARY      1   0 → +1, 1 → -1, eight per byte, slot 8k in bit 0, times scale
 *
 * Masked layout: a bitmask of rows × ceil(cols/8) bytes, bit c%8 of byte c/8 set when weight (r,c) is kept;
 * a cleared bit means the weight is zero whatever its code (that is how a binary matrix stays sparse).
 *
 * Column-packed layout (column combining): groups g = 0..G-1 own disjoint column sets
 * group_cols[group_off[g] .. group_off[g+1]); slot (r,g) holds one value and sel[r*G + g], the position of
 * its column inside the group; sel = LX_SEL_EMPTY marks a row with no weight in that group (value 0).
 *   y[r] = Σ_g value(r,g) · x[group_cols[group_off[g] + sel[r*G+g]]]
 */
#ifndef LSTMC_IR_LAYOUT_H
#define LSTMC_IR_LAYOUT_H

#ifndef LX_FN
#define LX_FN static inline
#endif

#define LX_SEL_EMPTY 255u
#define LX_MAX_ALPHA 64

/* The weight encodings, one row each: the one place where an encoding's facts are stated. Everything else
 * (the enum below, enc_name and the format names in ir/tensor.c, the dtypes the weights files store codes
 * in, the CUDA generator's constant names) is generated from it with an X macro:
 *
 *   X(ID, name, bits, scaled, max_level, codes_dtype, dense, masked, packed)
 *
 *   ID           the enum constant LX_ENC_<ID>; rows are in enum order (the values are never stored:
 *                files name formats)
 *   name         the encoding's name (enc_name)
 *   bits         bits per value slot
 *   scaled       1: one float scale per row, w = level · scale[r]
 *   max_level    the levels are integers in [-max_level, max_level] (binary: ±1 only); 0: the codes are
 *                the float values themselves
 *   codes_dtype  the safetensors dtype the codes are stored as (ST_<codes_dtype> in runtime/safetensors.h):
 *                an encoding of 8 bits or more as its values, a narrower one as the bytes of each row (U8)
 *   dense, masked, packed   the format names of the encoding in each layout ("dense_f32", "masked_q8", …)
 *
 * Adding an encoding: docs/architecture.md, "Adding a weight encoding". */
#define LX_ENCODINGS(X)                                                                   \
  X(F32, "f32", 32, 0, 0, F32, "dense_f32", "masked", "cc_packed")                        \
  X(BF16, "bf16", 16, 0, 0, BF16, "dense_bf16", "masked_bf16", "cc_bf16")                 \
  X(Q8, "q8", 8, 1, 127, I8, "q8", "masked_q8", "cc_q8")                                  \
  X(Q4, "q4", 4, 1, 7, U8, "q4", "masked_q4", "cc_q4")                                    \
  X(TERNARY, "ternary", 2, 1, 1, U8, "ternary", "masked_ternary", "cc_ternary")           \
  X(BINARY, "binary", 1, 1, 1, U8, "binary", "masked_binary", "cc_binary")

#define LX_ENC_ENUM_(id, ...) LX_ENC_##id,
enum lx_enc { LX_ENCODINGS(LX_ENC_ENUM_) LX_ENC_COUNT };
#undef LX_ENC_ENUM_

enum lx_layout { LX_LAYOUT_DENSE = 0, LX_LAYOUT_MASKED = 1, LX_LAYOUT_PACKED = 2, LX_LAYOUT_COUNT = 3 };

/* The table's numeric columns as functions (a switch, so that device code folds them when enc is constant). */
#define LX_ENC_BITS_(id, name, bits, ...) case LX_ENC_##id: return bits;
#define LX_ENC_SCALED_(id, name, bits, scaled, ...) case LX_ENC_##id: return scaled;
#define LX_ENC_MAX_LEVEL_(id, name, bits, scaled, max_level, ...) case LX_ENC_##id: return max_level;
LX_FN int lx_enc_bits(int enc) {
  switch (enc) { LX_ENCODINGS(LX_ENC_BITS_) default: return 0; }
}
LX_FN int lx_enc_has_scale(int enc) {
  switch (enc) { LX_ENCODINGS(LX_ENC_SCALED_) default: return 0; }
}
LX_FN int lx_enc_max_level(int enc) {
  switch (enc) { LX_ENCODINGS(LX_ENC_MAX_LEVEL_) default: return 0; }
}
#undef LX_ENC_BITS_
#undef LX_ENC_SCALED_
#undef LX_ENC_MAX_LEVEL_

/* Bytes one row of n slots occupies. */
LX_FN unsigned long lx_row_bytes(int enc, unsigned long n) {
  return (n * (unsigned long)lx_enc_bits(enc) + 7ul) / 8ul;
}

LX_FN float lx_bf16_to_f32(unsigned short h) {
  union { unsigned int u; float f; } v;
  v.u = (unsigned int)h << 16;
  return v.f;
}

/* The integer level of slot i in a row of codes (for F32/BF16, the value itself). Not scaled. */
LX_FN float lx_decode_level(int enc, const unsigned char *row, unsigned long i) {
  switch (enc) {
  case LX_ENC_F32: {
    union { unsigned int u; float f; } v;
    const unsigned char *p = row + 4 * i;
    v.u = (unsigned int)p[0] | (unsigned int)p[1] << 8 | (unsigned int)p[2] << 16 | (unsigned int)p[3] << 24;
    return v.f;
  }
  case LX_ENC_BF16: {
    const unsigned char *p = row + 2 * i;
    return lx_bf16_to_f32((unsigned short)(p[0] | p[1] << 8));
  }
  case LX_ENC_Q8: return (float)(signed char)row[i];
  case LX_ENC_Q4: {
    int q = (row[i >> 1] >> ((i & 1) * 4)) & 15;
    return (float)(q >= 8 ? q - 16 : q);
  }
  case LX_ENC_TERNARY: {
    int q = (row[i >> 2] >> ((i & 3) * 2)) & 3;
    return q == 1 ? 1.0f : q == 2 ? -1.0f : 0.0f;
  }
  default: return ((row[i >> 3] >> (i & 7)) & 1) ? -1.0f : 1.0f;
  }
}

LX_FN int lx_mask_get(const unsigned char *mask_row, unsigned long c) { return (mask_row[c >> 3] >> (c & 7)) & 1; }

#endif
