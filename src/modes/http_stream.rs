//! The body a streamed request goes upstream in: [`ChannelBody`], a
//! bounded channel from the task that redacts the body
//! ([`crate::scrub::stream::StreamRedactor`]) to hyper's client. Its end
//! must be said explicitly; a producer that stops without saying it (an
//! error, a panic, a cancelled request) aborts the body instead of ending
//! it, so the upstream never sees a truncated body as complete.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use tokio::sync::mpsc;

/// What a producer sends down a [`ChannelBody`].
#[derive(Debug)]
pub enum Chunk {
    /// Body bytes.
    Data(Bytes),
    /// The body is complete.
    End,
}

/// Why a streamed body was cut off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Aborted;

impl std::fmt::Display for Aborted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("request body aborted before its end")
    }
}

impl std::error::Error for Aborted {}

/// A request body fed through a bounded channel (see the module
/// documentation): ends only on [`Chunk::End`]; a closed channel without it
/// is an error, so hyper aborts the request instead of completing it.
#[derive(Debug)]
pub struct ChannelBody {
    rx: mpsc::Receiver<Chunk>,
    done: bool,
}

impl ChannelBody {
    /// A body and its sender, holding at most `depth` chunks in between.
    pub fn channel(depth: usize) -> (mpsc::Sender<Chunk>, ChannelBody) {
        let (tx, rx) = mpsc::channel(depth.max(1));
        (tx, ChannelBody { rx, done: false })
    }
}

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = Aborted;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Aborted>>> {
        if self.done {
            return Poll::Ready(None);
        }
        match self.rx.poll_recv(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Some(Chunk::Data(b))) => Poll::Ready(Some(Ok(Frame::data(b)))),
            Poll::Ready(Some(Chunk::End)) => {
                self.done = true;
                Poll::Ready(None)
            }
            Poll::Ready(None) => {
                self.done = true;
                Poll::Ready(Some(Err(Aborted)))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_channel_body_ends_only_when_told() {
        use http_body_util::BodyExt;
        let (tx, body) = ChannelBody::channel(2);
        tx.send(Chunk::Data(Bytes::from_static(b"abc")))
            .await
            .unwrap();
        tx.send(Chunk::End).await.unwrap();
        assert_eq!(&body.collect().await.unwrap().to_bytes()[..], b"abc");

        let (tx, body) = ChannelBody::channel(2);
        tx.send(Chunk::Data(Bytes::from_static(b"abc")))
            .await
            .unwrap();
        drop(tx);
        assert_eq!(body.collect().await.unwrap_err(), Aborted);
    }
}
