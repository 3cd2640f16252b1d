// header_cxx.cpp - ircache.h compiles as C++ (extern "C") with -Wpedantic.
#include "header_use.h"

int main()
{
    return uses_every_declaration();
}
