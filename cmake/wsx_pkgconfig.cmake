# SPDX-License-Identifier: BSL-1.0
# wsx_install_pkgconfig(): generates and installs wsx.pc, and wsx-tls.pc /
# wsx-deflate.pc / wsx-redis.pc / wsx-http2.pc for the components this build has, from cmake/wsx.pc.in.
#
#   c++ -std=c++20 app.cpp $(pkg-config --cflags --libs wsx)
#   c++ -std=c++20 app.cpp $(pkg-config --cflags --libs wsx-tls)    # wsx + OpenSSL
#
# The files locate the prefix from their own directory (${pcfiledir}), so a
# `cmake --install --prefix` elsewhere, or a moved tree, still works.
# The C++ standard is the user's to pass: pkg-config has no portable way to say it.
function(wsx_install_pkgconfig)
    set(pcdir "${WSX_INSTALL_PKGCONFIGDIR}")
    if(IS_ABSOLUTE "${pcdir}")
        set(WSX_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
    else()
        # "share/pkgconfig" -> "${pcfiledir}/../.."
        string(REGEX REPLACE "/+$" "" pcdir "${pcdir}")
        string(REGEX REPLACE "[^/]+" ".." up "${pcdir}")
        set(WSX_PC_PREFIX "\${pcfiledir}/${up}")
    endif()
    if(IS_ABSOLUTE "${CMAKE_INSTALL_INCLUDEDIR}")
        set(WSX_PC_INCLUDEDIR "${CMAKE_INSTALL_INCLUDEDIR}")
    else()
        set(WSX_PC_INCLUDEDIR "\${prefix}/${CMAKE_INSTALL_INCLUDEDIR}")
    endif()

    # Asio has no .pc file upstream; name its directory unless the compiler
    # searches it anyway (/usr/include).
    set(asio_cflags "")
    if(Asio_INCLUDE_DIR AND NOT Asio_INCLUDE_DIR IN_LIST CMAKE_CXX_IMPLICIT_INCLUDE_DIRECTORIES)
        set(asio_cflags " -I${Asio_INCLUDE_DIR}")
    endif()

    set(WSX_PC_NAME wsx)
    set(WSX_PC_DESCRIPTION "${PROJECT_DESCRIPTION}")
    set(WSX_PC_REQUIRES "simdjson")
    set(WSX_PC_CFLAGS "-I\${includedir}${asio_cflags} -DASIO_STANDALONE")
    set(WSX_PC_LIBS "-pthread")
    configure_file("${PROJECT_SOURCE_DIR}/cmake/wsx.pc.in" "${PROJECT_BINARY_DIR}/pkgconfig/wsx.pc" @ONLY)
    set(files "${PROJECT_BINARY_DIR}/pkgconfig/wsx.pc")

    # The components only add their dependency (and, for deflate, the define
    # that wsx::deflate sets).
    set(WSX_PC_CFLAGS "")
    set(WSX_PC_LIBS "")
    if(TARGET wsx_tls)
        set(WSX_PC_NAME wsx-tls)
        set(WSX_PC_DESCRIPTION "wsx with TLS (wss://) over OpenSSL")
        set(WSX_PC_REQUIRES "wsx = ${PROJECT_VERSION}, openssl >= ${WSX_OPENSSL_MIN_VERSION}")
        configure_file("${PROJECT_SOURCE_DIR}/cmake/wsx.pc.in" "${PROJECT_BINARY_DIR}/pkgconfig/wsx-tls.pc" @ONLY)
        list(APPEND files "${PROJECT_BINARY_DIR}/pkgconfig/wsx-tls.pc")
    endif()
    if(TARGET wsx_deflate)
        set(WSX_PC_NAME wsx-deflate)
        set(WSX_PC_DESCRIPTION "wsx with permessage-deflate (RFC 7692) over zlib")
        set(WSX_PC_REQUIRES "wsx = ${PROJECT_VERSION}, zlib")
        set(WSX_PC_CFLAGS "-DWSX_HAS_DEFLATE=1")
        configure_file("${PROJECT_SOURCE_DIR}/cmake/wsx.pc.in" "${PROJECT_BINARY_DIR}/pkgconfig/wsx-deflate.pc" @ONLY)
        list(APPEND files "${PROJECT_BINARY_DIR}/pkgconfig/wsx-deflate.pc")
    endif()
    if(TARGET wsx_redis)
        set(WSX_PC_NAME wsx-redis)
        set(WSX_PC_DESCRIPTION "wsx's Redis pub/sub backplane over hiredis")
        set(WSX_PC_REQUIRES "wsx = ${PROJECT_VERSION}, hiredis")
        set(WSX_PC_CFLAGS "-DWSX_HAS_REDIS=1")
        configure_file("${PROJECT_SOURCE_DIR}/cmake/wsx.pc.in" "${PROJECT_BINARY_DIR}/pkgconfig/wsx-redis.pc" @ONLY)
        list(APPEND files "${PROJECT_BINARY_DIR}/pkgconfig/wsx-redis.pc")
    endif()
    if(TARGET wsx_http2)
        set(WSX_PC_NAME wsx-http2)
        set(WSX_PC_DESCRIPTION "wsx with WebSockets over HTTP/2 (RFC 8441) on nghttp2")
        set(WSX_PC_REQUIRES "wsx = ${PROJECT_VERSION}, libnghttp2 >= 1.34")
        set(WSX_PC_CFLAGS "-DWSX_HAS_HTTP2=1")
        configure_file("${PROJECT_SOURCE_DIR}/cmake/wsx.pc.in" "${PROJECT_BINARY_DIR}/pkgconfig/wsx-http2.pc" @ONLY)
        list(APPEND files "${PROJECT_BINARY_DIR}/pkgconfig/wsx-http2.pc")
    endif()
    install(FILES ${files} DESTINATION "${WSX_INSTALL_PKGCONFIGDIR}")
endfunction()
