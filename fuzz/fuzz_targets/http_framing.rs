//! The receiver's reading of request heads and body framing: the raw bytes of any connection.
//! Whatever pieces the bytes arrive in, the verdict is the same as for the bytes in one piece.
//!
//! Input: a byte N, N cut positions (`u16`), then the bytes a client sends.
#![no_main]

use headcount_fuzz::Input;
use headcount_receiver::framing::Framing;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut input = Input::new(data);
    let n = input.byte() % 17;
    let cuts: Vec<u16> = (0..n).map(|_| input.u16()).collect();
    let bytes = input.rest();

    let mut whole = Framing::default();
    let at_once = whole.feed(bytes);

    let mut cuts: Vec<usize> = cuts
        .iter()
        .map(|c| usize::from(*c) % (bytes.len() + 1))
        .collect();
    cuts.sort_unstable();
    cuts.push(bytes.len());
    let mut pieces = Framing::default();
    let mut in_pieces = Ok(());
    let mut from = 0;
    for to in cuts {
        if let Err(e) = pieces.feed(&bytes[from..to]) {
            in_pieces = Err(e);
            break;
        }
        from = to;
    }
    match (&at_once, &in_pieces) {
        (Ok(()), Ok(())) => assert_eq!(whole.reading(), pieces.reading()),
        (Err(a), Err(b)) => assert_eq!((a.status, a.error), (b.status, b.error), "{a:?} / {b:?}"),
        _ => panic!("at once {at_once:?}, in pieces {in_pieces:?}"),
    }
});
