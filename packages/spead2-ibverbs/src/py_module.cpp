#include <memory>
#include <stdexcept>
#include <string>
#include <pybind11/pybind11.h>
#include <spead2/common_ibv.h>
#include <spead2/py_common.h>
#include "py_ibverbs.h"

namespace spead2::python
{

namespace
{

/* spead2.IbvContext (spec §1.16): the device context serving an interface address.
 * The plugin only publishes the class where ibverbs works (see plugin.py). */
class ibv_context_holder
{
private:
    std::unique_ptr<ibv_interface> interface;

public:
    explicit ibv_context_holder(const std::string &interface_address)
        : interface(std::make_unique<ibv_interface>(ibv_interface::open(interface_address)))
    {
    }

    void reset() { interface.reset(); }
};

/// How many RDMA devices the library reports; throws std::runtime_error if it cannot be loaded.
int device_count()
{
    const ibv_api &api = ibv_api::get();
    int n = 0;
    ibv_device **devices = api.get_device_list(&n);
    if (devices)
        api.free_device_list(devices);
    return devices ? n : 0;
}

} // anonymous namespace

} // namespace spead2::python

PYBIND11_MODULE(_ibverbs, m)
{
    namespace py = pybind11;
    using namespace spead2::python;
    m.doc() = "spead2 ibverbs transports (native part of the spead2-ibverbs plugin)";
    register_recv(m);
    register_send(m);
    py::class_<ibv_context_holder>(m, "IbvContext", "An open ibverbs device context for an interface address.")
        .def(py::init<const std::string &>(), py::arg("interface"))
        .def("reset", &ibv_context_holder::reset, "Release the device context.");
    m.def("device_count", &device_count,
          "Number of RDMA devices (RuntimeError if libibverbs cannot be loaded).");
    m.def("library_path", &spead2::ibv_api::library_path, "The libibverbs file that is (or would be) loaded.");
}
