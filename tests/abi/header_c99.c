/* header_c99.c - ircache.h compiles as C99 with -Wpedantic. */
#include "header_use.h"

int main(void)
{
    return uses_every_declaration();
}
