// The run-time choice among the row templates of a SIMD driver, shared by preprocess_avx2.cpp
// and preprocess_neon.cpp: included after their row_simd<SC, OC, kPick, kHalf> template, inside
// the same anonymous namespace (so each driver's copy is compiled for its own ISA).

template <int SC, int OC>
RowFunction pick_variant(bool pick, bool half) {
  if (pick) return half ? row_simd<SC, OC, true, true> : row_simd<SC, OC, true, false>;
  return half ? row_simd<SC, OC, false, true> : row_simd<SC, OC, false, false>;
}

template <int SC>
RowFunction for_outputs(int oc, bool pick, bool half) {
  switch (oc) {
    case 1:
      return pick_variant<SC, 1>(pick, half);
    case 3:
      return pick_variant<SC, 3>(pick, half);
    default:
      return nullptr;
  }
}

// The row function for this plan's channel counts, colour matrix and output type, or nullptr.
RowFunction select_row(const ResizePlan& plan) {
  const ResizeNormalizeParams& p = *plan.params;
  bool pick = true;
  for (int c = 0; c < p.norm.out_channels; ++c) pick &= p.norm.pick[c] >= 0;
  const bool half = p.dst.type == OutType::kFloat16;
  switch (p.src.channels) {
    case 1:
      return for_outputs<1>(p.norm.out_channels, pick, half);
    case 3:
      return for_outputs<3>(p.norm.out_channels, pick, half);
    case 4:
      return for_outputs<4>(p.norm.out_channels, pick, half);
    default:
      return nullptr;
  }
}
