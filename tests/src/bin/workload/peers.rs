//! `workload peers`: every way a peer's address reaches the kernel, over loopback only.
//! Three TCP connections accepted from 127.0.0.1 (three client ports, one host) and one from
//! ::1; a datagram by sendto() from 127.0.0.1 received by recvfrom(), one by sendmsg() from
//! 127.0.0.2 to 127.0.0.3 received by recvmsg(); a send()/recv() pair on a connected
//! socket, which names no address; and recvmsg() of a datagram from an unnamed unix socket,
//! for which the kernel writes an address of length 0.
use std::net::{TcpListener, TcpStream, UdpSocket};

pub fn run() {
    for (host, n) in [("127.0.0.1:0", 3), ("[::1]:0", 1)] {
        let listener = TcpListener::bind(host).expect("listen");
        let at = listener.local_addr().expect("address");
        for _ in 0..n {
            let _client = TcpStream::connect(at).expect("connect");
            listener.accept().expect("accept");
        }
    }

    let a = UdpSocket::bind("127.0.0.1:0").expect("bind a");
    let b = UdpSocket::bind("127.0.0.1:0").expect("bind b");
    let mut buf = [0u8; 16];
    a.send_to(b"to b", b.local_addr().unwrap()).expect("sendto");
    b.recv_from(&mut buf).expect("recvfrom");

    let from = UdpSocket::bind("127.0.0.2:0").expect("bind 127.0.0.2");
    let to = UdpSocket::bind("127.0.0.3:0").expect("bind 127.0.0.3");
    let std::net::SocketAddr::V4(dest) = to.local_addr().unwrap() else {
        unreachable!()
    };
    let mut name = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: dest.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(*dest.ip()).to_be(),
        },
        sin_zero: [0; 8],
    };
    msg(&from, &mut name, b"msg".to_vec(), false);
    let mut got = unsafe { std::mem::zeroed::<libc::sockaddr_in>() };
    msg(&to, &mut got, vec![0; 16], true);
    assert_eq!(
        u32::from_be(got.sin_addr.s_addr),
        u32::from(std::net::Ipv4Addr::new(127, 0, 0, 2))
    );

    a.connect(b.local_addr().unwrap()).expect("connect a");
    a.send(b"connected").expect("send");
    b.recv(&mut buf).expect("recv");

    // recvmsg() asking for the sender of a datagram from an unnamed unix socket: the kernel
    // writes no address (length 0), as for chronyd's error-queue timestamps.
    let (left, right) = std::os::unix::net::UnixDatagram::pair().expect("socketpair");
    left.send(b"unnamed").expect("send unnamed");
    unnamed_peer(&right);
}

/// recvmsg() with room for an address, from a peer that has none.
fn unnamed_peer(socket: &std::os::unix::net::UnixDatagram) {
    use std::os::fd::AsRawFd as _;
    let mut data = [0u8; 16];
    let mut iov = libc::iovec {
        iov_base: data.as_mut_ptr().cast(),
        iov_len: data.len(),
    };
    // SAFETY: zeroed sockaddr_un and msghdr are valid; the pointers outlive the call.
    let mut name: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    let mut hdr: libc::msghdr = unsafe { std::mem::zeroed() };
    hdr.msg_name = (&mut name as *mut libc::sockaddr_un).cast();
    hdr.msg_namelen = size_of::<libc::sockaddr_un>() as libc::socklen_t;
    hdr.msg_iov = &mut iov;
    hdr.msg_iovlen = 1;
    // SAFETY: fd and msghdr are valid for the call.
    let rc = unsafe { libc::recvmsg(socket.as_raw_fd(), &mut hdr, 0) };
    assert!(rc >= 0, "{}", std::io::Error::last_os_error());
    assert_eq!(hdr.msg_namelen, 0, "an unnamed peer has no address");
}

/// sendmsg() (or recvmsg()) of `data` with `name` as the address.
fn msg(socket: &UdpSocket, name: &mut libc::sockaddr_in, mut data: Vec<u8>, receive: bool) {
    use std::os::fd::AsRawFd as _;
    let mut iov = libc::iovec {
        iov_base: data.as_mut_ptr().cast(),
        iov_len: data.len(),
    };
    // SAFETY: a zeroed msghdr is valid; the pointers set below outlive the call.
    let mut hdr: libc::msghdr = unsafe { std::mem::zeroed() };
    hdr.msg_name = (name as *mut libc::sockaddr_in).cast();
    hdr.msg_namelen = size_of::<libc::sockaddr_in>() as libc::socklen_t;
    hdr.msg_iov = &mut iov;
    hdr.msg_iovlen = 1;
    // SAFETY: fd and msghdr are valid for the call.
    let rc = unsafe {
        if receive {
            libc::recvmsg(socket.as_raw_fd(), &mut hdr, 0)
        } else {
            libc::sendmsg(socket.as_raw_fd(), &hdr, 0)
        }
    };
    assert!(rc >= 0, "{}", std::io::Error::last_os_error());
}
