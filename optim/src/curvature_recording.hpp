// A model recorded once at the current parameters, on a tape of its own, with everything
// curvature-vector products need: the loss and its gradient come out of the same recording,
// and each product then costs reverse sweeps only.
#pragma once

#include "vector.hpp"
#include "xtgrad/optim/curvature.hpp"

namespace xtgrad::optim::detail {

/// How H_L, the Hessian of the loss in output space, is applied in the Gauss-Newton product.
enum class OutputHessian { generic, softmax, sigmoid, identity };

template <class T>
class CurvatureRecording {
public:
    /// Without `products` (fisher only) the recording keeps the loss, the gradient and the
    /// output Hessian's form but not J^T w, so product() is unavailable: what K-FAC needs.
    /// `also` (fisher only), called once the outputs are recorded, names tensors they were
    /// computed from (a layer's outputs) whose loss gradients the gradient's own reverse sweep
    /// gives as well: also_gradient(), at no second sweep (K-FAC's empirical Fisher).
    CurvatureRecording(const CurvatureModel<T>& model, const TensorList<T>& params, Curvature kind,
                       bool products = true, const std::function<TensorList<T>()>& also = {});
    double loss() const { return loss_; }
    const Vec<T>& gradient() const { return gradient_; }
    /// J^T H_L J v + H_penalty v (fisher), or H v (hessian).
    Vec<T> product(const Vec<T>& v);
    /// The whole matrix, [p, p]: a product with each unit vector, symmetrised (the products
    /// differ in rounding; the result is symmetric to the last bit).
    Array<T> matrix();
    OutputHessian output_hessian() const { return output_kind_; }
    /// The multiple of the closed form that H_L is (the reduction's 1/N, a weight).
    double output_scale() const { return output_scale_; }
    /// fisher: the outputs z as recorded, softmax or sigmoid of z for those closed forms, and
    /// sum_i <z_i, c_i> differentiated with respect to `wrt` (one reverse sweep; zeros where it
    /// does not reach), e.g. with respect to intermediate tensors of the recording.
    const BasicTensor<T>& outputs() const { return z_; }
    const Array<T>& probabilities() const { return probabilities_; }
    Array<T> output_gradient() const { return dl_dz_.value(); }  ///< dL/dz
    const Vec<T>& also_gradient() const { return also_gradient_; }  ///< dL/dt for t in `also`
    Vec<T> output_vjp(const Array<T>& c, const TensorList<T>& wrt) const;
    /// Nodes on the recording's tape: products add none (thousands of them are taken on one
    /// recording, and every sweep walks the whole tape).
    std::size_t tape_nodes() const { return tape_.size(); }

private:
    Vec<T> output_product(const Array<T>& u);  // H_L u, generic: a reverse sweep of dL/dz
    Array<T> closed_form(OutputHessian kind, const Array<T>& u) const;
    void choose_output_hessian();

    Tape tape_;  // first member: alive for every tensor below
    TensorList<T> params_;
    Curvature kind_;
    ShardSum<T> shards_;
    double loss_ = 0;
    Vec<T> gradient_;
    Vec<T> also_gradient_;
    // fisher: the outputs z, a leaf z0 with z's value, dL/dz0 (recorded for second order),
    // J^T w for a seed w, and the penalty's gradient (recorded for second order)
    BasicTensor<T> z_, z0_, dl_dz_, w_;
    TensorList<T> jt_w_, penalty_grad_;
    OutputHessian output_kind_ = OutputHessian::generic;
    double output_scale_ = 0;
    Array<T> probabilities_;  // softmax or sigmoid of z, for the closed forms
    // hessian: the recorded gradient of the data term (the penalty's is penalty_grad_)
    TensorList<T> grad_;
};

extern template class CurvatureRecording<float>;
extern template class CurvatureRecording<double>;

}  // namespace xtgrad::optim::detail
