// Fused Elastic-Link sum for training, a feasibility measurement (README.md beside it).
//
//   ElasticLinkSum(conv_out, x, gamma) -> out = conv_out + gamma * C(x)
//   ElasticLinkSumGrad(dy, x, gamma)  -> (grad_x, grad_gamma)
//
// C is el_zoo.layers.match_channels: tile x's channels up to lcm(C_in, C_out), then
// average consecutive groups of g = lcm / C_out down to C_out, i.e. output channel o is the
// mean of input channels (o * g + j) % C_in, j < g. The spatial Squeeze (stride 2 average
// pool) stays in plain TF before the op: x and conv_out have the same (N, H, W).
// Each op is one pass over its output-sized tensors, split over positions on the op
// kernel's CPU worker threads (the intra-op pool, like TF's own ops).

#define EIGEN_USE_THREADS

#include <algorithm>
#include <numeric>
#include <vector>

#include "tensorflow/core/framework/op.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/shape_inference.h"
#include "tensorflow/core/platform/threadpool.h"

using namespace tensorflow;

REGISTER_OP("ElasticLinkSum")
    .Input("conv_out: float")
    .Input("x: float")
    .Input("gamma: float")
    .Output("out: float")
    .SetShapeFn([](shape_inference::InferenceContext* c) {
      c->set_output(0, c->input(0));
      return absl::OkStatus();
    });

REGISTER_OP("ElasticLinkSumGrad")
    .Input("dy: float")
    .Input("x: float")
    .Input("gamma: float")
    .Output("grad_x: float")
    .Output("grad_gamma: float")
    .SetShapeFn([](shape_inference::InferenceContext* c) {
      c->set_output(0, c->input(1));
      c->set_output(1, c->input(2));
      return absl::OkStatus();
    });

namespace {

enum class Mapping { kTile, kGroup, kGeneral };

struct Layout {
  int64_t positions, cin, cout, group;
  Mapping mapping;
  std::vector<int> sources;  // cout * group input channels (general mapping only)
  std::vector<float> gamma_over_g;  // gamma / group, per output channel
};

// The layout of a call's inputs (conv_out or dy, x, gamma): both ops take the same three.
Status MakeLayout(OpKernelContext* context, Layout* l) {
  const Tensor& y = context->input(0);
  const Tensor& x = context->input(1);
  const Tensor& gamma = context->input(2);
  if (y.dims() != 4 || x.dims() != 4)
    return errors::InvalidArgument("ElasticLinkSum: conv_out and x must be 4D (NHWC)");
  for (int d = 0; d < 3; ++d)
    if (y.dim_size(d) != x.dim_size(d))
      return errors::InvalidArgument(
          "ElasticLinkSum: conv_out and x differ in N, H or W: ", y.shape().DebugString(),
          " vs ", x.shape().DebugString(), " (squeeze x spatially first)");
  l->cin = x.dim_size(3);
  l->cout = y.dim_size(3);
  // no channels: lcm and the group size would divide by zero (match_channels raises too)
  if (l->cin == 0 || l->cout == 0)
    return errors::InvalidArgument("ElasticLinkSum: conv_out and x need at least one channel: ",
                                   y.shape().DebugString(), " vs ", x.shape().DebugString());
  if (gamma.dims() != 1 || gamma.dim_size(0) != l->cout)
    return errors::InvalidArgument("ElasticLinkSum: gamma must have shape (C_out,)");
  l->positions = y.dim_size(0) * y.dim_size(1) * y.dim_size(2);
  const int64_t common = std::lcm(l->cin, l->cout);
  l->group = common / l->cout;
  if (l->group == 1 && l->cout % l->cin == 0) {
    l->mapping = Mapping::kTile;
  } else if (l->cin == l->group * l->cout) {
    l->mapping = Mapping::kGroup;
  } else {
    l->mapping = Mapping::kGeneral;
    l->sources.resize(l->cout * l->group);
    for (int64_t i = 0; i < l->cout * l->group; ++i) l->sources[i] = i % l->cin;
  }
  const float* gp = gamma.flat<float>().data();
  l->gamma_over_g.resize(l->cout);
  for (int64_t o = 0; o < l->cout; ++o) l->gamma_over_g[o] = gp[o] / l->group;
  return absl::OkStatus();
}

thread::ThreadPool* Pool(OpKernelContext* context) {
  return context->device()->tensorflow_cpu_worker_threads()->workers;
}

// out[p] = y[p] + gamma * C(x[p]) for positions [begin, end)
void ForwardRows(const Layout& l, const float* y, const float* x, const float* gamma,
                 const float* gamma_over_g, float* out, int64_t begin, int64_t end) {
  const int64_t cin = l.cin, cout = l.cout, g = l.group;
  for (int64_t p = begin; p < end; ++p) {
    const float* yp = y + p * cout;
    const float* xp = x + p * cin;
    float* op = out + p * cout;
    if (l.mapping == Mapping::kTile) {
      for (int64_t t = 0; t < cout; t += cin)
        for (int64_t c = 0; c < cin; ++c) op[t + c] = yp[t + c] + gamma[t + c] * xp[c];
    } else if (l.mapping == Mapping::kGroup) {
      for (int64_t o = 0; o < cout; ++o) {
        float s = 0.f;
        for (int64_t j = 0; j < g; ++j) s += xp[o * g + j];
        op[o] = yp[o] + gamma_over_g[o] * s;
      }
    } else {
      for (int64_t o = 0; o < cout; ++o) {
        float s = 0.f;
        for (int64_t j = 0; j < g; ++j) s += xp[l.sources[o * g + j]];
        op[o] = yp[o] + gamma_over_g[o] * s;
      }
    }
  }
}

// grad_x[p] = C^T(gamma * dy[p]); gamma_acc += dy[p] * sum_j x[p, source] (times 1/g later)
void BackwardRows(const Layout& l, const float* dy, const float* x, const float* gamma,
                  const float* gamma_over_g, float* grad_x, float* gamma_acc,
                  int64_t begin, int64_t end) {
  const int64_t cin = l.cin, cout = l.cout, g = l.group;
  for (int64_t p = begin; p < end; ++p) {
    const float* dp = dy + p * cout;
    const float* xp = x + p * cin;
    float* gx = grad_x + p * cin;
    if (l.mapping == Mapping::kTile) {
      for (int64_t c = 0; c < cin; ++c) gx[c] = 0.f;
      for (int64_t t = 0; t < cout; t += cin)
        for (int64_t c = 0; c < cin; ++c) {
          gx[c] += gamma[t + c] * dp[t + c];
          gamma_acc[t + c] += dp[t + c] * xp[c];
        }
    } else if (l.mapping == Mapping::kGroup) {
      for (int64_t o = 0; o < cout; ++o) {
        const float d = gamma_over_g[o] * dp[o];
        float s = 0.f;
        for (int64_t j = 0; j < g; ++j) {
          gx[o * g + j] = d;
          s += xp[o * g + j];
        }
        gamma_acc[o] += dp[o] * s;
      }
    } else {
      for (int64_t c = 0; c < cin; ++c) gx[c] = 0.f;
      for (int64_t o = 0; o < cout; ++o) {
        const float d = gamma_over_g[o] * dp[o];
        float s = 0.f;
        for (int64_t j = 0; j < g; ++j) {
          const int src = l.sources[o * g + j];
          gx[src] += d;
          s += xp[src];
        }
        gamma_acc[o] += dp[o] * s;
      }
    }
  }
}

class ElasticLinkSumOp : public OpKernel {
 public:
  explicit ElasticLinkSumOp(OpKernelConstruction* context) : OpKernel(context) {}

  void Compute(OpKernelContext* context) override {
    Layout l;
    OP_REQUIRES_OK(context, MakeLayout(context, &l));
    const Tensor& y = context->input(0);
    Tensor* out = nullptr;
    // write in place of conv_out when TF lets us (its buffer is not needed elsewhere)
    OP_REQUIRES_OK(context, context->forward_input_or_allocate_output({0}, 0, y.shape(), &out));
    const float* gp = context->input(2).flat<float>().data();
    const float* yp = y.flat<float>().data();
    const float* xp = context->input(1).flat<float>().data();
    float* op = out->flat<float>().data();
    const int64_t cost = 8 * (l.cout + l.cin);  // bytes moved per position, roughly
    Pool(context)->ParallelFor(l.positions, cost, [&](int64_t begin, int64_t end) {
      ForwardRows(l, yp, xp, gp, l.gamma_over_g.data(), op, begin, end);
    });
  }
};

class ElasticLinkSumGradOp : public OpKernel {
 public:
  explicit ElasticLinkSumGradOp(OpKernelConstruction* context) : OpKernel(context) {}

  void Compute(OpKernelContext* context) override {
    Layout l;
    OP_REQUIRES_OK(context, MakeLayout(context, &l));
    const Tensor& dy = context->input(0);
    const Tensor& x = context->input(1);
    const Tensor& gamma = context->input(2);
    Tensor* grad_x = nullptr;
    Tensor* grad_gamma = nullptr;
    OP_REQUIRES_OK(context, context->allocate_output(0, x.shape(), &grad_x));
    OP_REQUIRES_OK(context, context->allocate_output(1, gamma.shape(), &grad_gamma));
    const float* gp = gamma.flat<float>().data();
    thread::ThreadPool* pool = Pool(context);
    const int slots = pool->NumThreads() + 1;  // worker ids run 0..NumThreads()
    // grad_gamma: float sums over chunks of kChunk positions, added up in double per
    // worker (a float sum over all positions drifts by ~1e-5 of the result at batch 128)
    constexpr int64_t kChunk = 256;
    std::vector<double> partial(static_cast<size_t>(slots) * l.cout, 0.0);
    const float* dp = dy.flat<float>().data();
    const float* xp = x.flat<float>().data();
    float* gxp = grad_x->flat<float>().data();
    const int64_t cost = 8 * (l.cout + l.cin);
    pool->ParallelForWithWorkerId(
        l.positions, cost, [&](int64_t begin, int64_t end, int worker) {
          std::vector<float> chunk_sum(l.cout);
          double* total = partial.data() + static_cast<size_t>(worker) * l.cout;
          for (int64_t start = begin; start < end; start += kChunk) {
            std::fill(chunk_sum.begin(), chunk_sum.end(), 0.f);
            BackwardRows(l, dp, xp, gp, l.gamma_over_g.data(), gxp, chunk_sum.data(), start,
                         std::min(end, start + kChunk));
            for (int64_t o = 0; o < l.cout; ++o) total[o] += chunk_sum[o];
          }
        });
    float* gg = grad_gamma->flat<float>().data();
    for (int64_t o = 0; o < l.cout; ++o) {
      double s = 0.0;
      for (int w = 0; w < slots; ++w) s += partial[static_cast<size_t>(w) * l.cout + o];
      gg[o] = static_cast<float>(s / l.group);
    }
  }
};

}  // namespace

REGISTER_KERNEL_BUILDER(Name("ElasticLinkSum").Device(DEVICE_CPU), ElasticLinkSumOp);
REGISTER_KERNEL_BUILDER(Name("ElasticLinkSumGrad").Device(DEVICE_CPU), ElasticLinkSumGradOp);
