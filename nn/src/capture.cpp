// The thread's active LayerCapture (capture.hpp).
#include "xtgrad/nn/capture.hpp"

namespace xtgrad::nn {

namespace {
template <class T>
LayerCapture<T>*& current() {
    thread_local LayerCapture<T>* capture = nullptr;
    return capture;
}
}  // namespace

template <class T>
LayerCapture<T>::LayerCapture() : outer_(current<T>()) {
    current<T>() = this;
}

template <class T>
LayerCapture<T>::~LayerCapture() {
    current<T>() = outer_;
}

template <class T>
LayerCapture<T>* LayerCapture<T>::active() {
    return current<T>();
}

template class LayerCapture<float>;
template class LayerCapture<double>;

}  // namespace xtgrad::nn
