#include "core/weight_slices.h"

#include <cstring>

#include "core/error.h"

namespace lmd {
namespace {

// Bytes per row of data and of aux (int4/int8 scales); rows() of a vector is its length.
int64_t data_row_bytes(const WeightTensor& t) { return static_cast<int64_t>(t.data.size()) / t.rows(); }
int64_t aux_row_bytes(const WeightTensor& t) { return t.aux.empty() ? 0 : static_cast<int64_t>(t.aux.size()) / t.rows(); }

// Bytes of data / aux per column, as (numerator, denominator) for int4 halves; aux per group.
void col_geometry(const WeightTensor& t, int64_t c0, int64_t n, int64_t* d0, int64_t* dn, int64_t* a0, int64_t* an) {
  switch (t.dtype) {
    case DType::kInt4:
      LMD_CHECK(c0 % t.group_size == 0 && n % t.group_size == 0)
          << "int4 column split at " << c0 << "+" << n << " is not aligned to group size " << t.group_size;
      *d0 = c0 / 2, *dn = n / 2;
      *a0 = c0 / t.group_size * 4, *an = n / t.group_size * 4;
      break;
    case DType::kI8:
      LMD_CHECK(c0 % t.group_size == 0 && n % t.group_size == 0)
          << "int8 column split at " << c0 << "+" << n << " is not aligned to group size " << t.group_size;
      *d0 = c0, *dn = n;
      *a0 = c0 / t.group_size * 2, *an = n / t.group_size * 2;
      break;
    default: {
      const int64_t es = static_cast<int64_t>(dtype_size(t.dtype));
      *d0 = c0 * es, *dn = n * es, *a0 = 0, *an = 0;
    }
  }
}

}  // namespace

WeightTensor slice_rows(const WeightTensor& t, int64_t r0, int64_t n) {
  LMD_CHECK(r0 >= 0 && n >= 0 && r0 + n <= t.rows()) << "row slice " << r0 << "+" << n << " of " << t.rows() << " rows";
  WeightTensor out;
  out.dtype = t.dtype;
  out.group_size = t.group_size;
  out.shape = t.shape;
  out.shape[0] = n;
  const int64_t rb = data_row_bytes(t), ab = aux_row_bytes(t);
  out.data.assign(t.data.begin() + r0 * rb, t.data.begin() + (r0 + n) * rb);
  if (ab) out.aux.assign(t.aux.begin() + r0 * ab, t.aux.begin() + (r0 + n) * ab);
  return out;
}

WeightTensor slice_cols(const WeightTensor& t, int64_t c0, int64_t n) {
  LMD_CHECK(t.shape.size() == 2 && c0 >= 0 && n >= 0 && c0 + n <= t.cols())
      << "column slice " << c0 << "+" << n << " of " << t.cols() << " columns";
  int64_t d0, dn, a0, an;
  col_geometry(t, c0, n, &d0, &dn, &a0, &an);
  WeightTensor out;
  out.dtype = t.dtype;
  out.group_size = t.group_size;
  out.shape = {t.rows(), n};
  const int64_t rb = data_row_bytes(t), ab = aux_row_bytes(t);
  out.data.resize(static_cast<size_t>(t.rows() * dn));
  out.aux.resize(static_cast<size_t>(t.rows() * an));
  for (int64_t r = 0; r < t.rows(); ++r) {
    std::memcpy(out.data.data() + r * dn, t.data.data() + r * rb + d0, dn);
    if (an) std::memcpy(out.aux.data() + r * an, t.aux.data() + r * ab + a0, an);
  }
  return out;
}

WeightTensor concat_rows(const std::vector<const WeightTensor*>& parts) {
  LMD_CHECK(!parts.empty()) << "concat_rows: nothing to concatenate";
  WeightTensor out;
  out.dtype = parts[0]->dtype;
  out.group_size = parts[0]->group_size;
  out.shape = parts[0]->shape;
  out.shape[0] = 0;
  for (const WeightTensor* p : parts) {
    LMD_CHECK(p->dtype == out.dtype && p->group_size == out.group_size && p->shape.size() == out.shape.size() &&
              p->cols() == parts[0]->cols())
        << "concat_rows: parts differ in dtype, group or columns (" << dtype_name(p->dtype) << " vs "
        << dtype_name(out.dtype) << ")";
    out.shape[0] += p->rows();
    out.data.insert(out.data.end(), p->data.begin(), p->data.end());
    out.aux.insert(out.aux.end(), p->aux.begin(), p->aux.end());
  }
  return out;
}

WeightTensor concat_cols(const std::vector<const WeightTensor*>& parts) {
  LMD_CHECK(!parts.empty()) << "concat_cols: nothing to concatenate";
  const WeightTensor& f = *parts[0];
  int64_t cols = 0;
  for (const WeightTensor* p : parts) {
    LMD_CHECK(p->dtype == f.dtype && p->group_size == f.group_size && p->rows() == f.rows() && p->shape.size() == 2)
        << "concat_cols: parts differ in dtype, group or rows";
    cols += p->cols();
  }
  WeightTensor out;
  out.dtype = f.dtype;
  out.group_size = f.group_size;
  out.shape = {f.rows(), cols};
  int64_t d0, dn, a0, an;
  col_geometry(out, 0, cols, &d0, &dn, &a0, &an);
  out.data.resize(static_cast<size_t>(f.rows() * dn));
  out.aux.resize(static_cast<size_t>(f.rows() * an));
  int64_t doff = 0, aoff = 0;
  for (const WeightTensor* p : parts) {
    const int64_t rb = data_row_bytes(*p), ab = aux_row_bytes(*p);
    for (int64_t r = 0; r < f.rows(); ++r) {
      std::memcpy(out.data.data() + r * dn + doff, p->data.data() + r * rb, rb);
      if (ab) std::memcpy(out.aux.data() + r * an + aoff, p->aux.data() + r * ab, ab);
    }
    doff += rb;
    aoff += ab;
  }
  return out;
}

}  // namespace lmd
