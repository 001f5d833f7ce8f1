// Boost.JSON is header-only in this build; its implementation is compiled here, once.
#include <boost/json/src.hpp>
