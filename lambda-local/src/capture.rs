//! What a function process writes, as Lambda captures it: stdout and stderr through one pipe,
//! split into lines, each stamped with when it was read, and sorted into the init's lines and
//! the current invocation's.
//!
//! The pipe's read end is non-blocking and read only when asked ([`Capture::drain`]): the
//! process writes a line before it posts its response, so a drain after the response has every
//! line of the invocation, with no reader task racing the answer.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::process::Stdio;
use std::time::SystemTime;

/// One line the function wrote, as a log event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    pub at: SystemTime,
    pub text: String,
}

/// The read end of a function process's output, and the lines read from it.
#[derive(Debug)]
pub struct Capture {
    read: OwnedFd,
    partial: Vec<u8>,
    init: Vec<LogLine>,
    lines: Vec<LogLine>,
}

/// The longest line kept whole; Lambda splits longer ones too (at 256 KiB per event).
const MAX_LINE: usize = 256 * 1024;

impl Capture {
    /// A pipe: the capture, and the write end for stdout and a copy of it for stderr.
    pub fn pipe() -> anyhow::Result<(Capture, Stdio, Stdio)> {
        let (capture, write) = Capture::open()?;
        let err = write.try_clone()?;
        Ok((capture, Stdio::from(write), Stdio::from(err)))
    }

    /// The capture and the pipe's write end.
    fn open() -> anyhow::Result<(Capture, OwnedFd)> {
        let mut fds = [0; 2];
        // SAFETY: pipe2 writes two descriptors into the array it is given, which holds two.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            anyhow::bail!(
                "cannot make a pipe for the function's output: {}",
                std::io::Error::last_os_error()
            );
        }
        // SAFETY: both descriptors were just made by pipe2 and belong to nothing else.
        let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        // SAFETY: fcntl on a descriptor we own, with integer arguments only.
        let nonblocking = unsafe {
            let flags = libc::fcntl(read.as_raw_fd(), libc::F_GETFL);
            libc::fcntl(read.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK)
        };
        if nonblocking != 0 {
            anyhow::bail!("cannot make the output pipe non-blocking");
        }
        let capture = Capture {
            read,
            partial: Vec::new(),
            init: Vec::new(),
            lines: Vec::new(),
        };
        Ok((capture, write))
    }

    /// Reads everything the process has written so far; complete lines go to the init's lines
    /// (`in_init`) or the invocation's.
    pub fn drain(&mut self, in_init: bool) {
        let mut buf = [0u8; 8192];
        loop {
            // SAFETY: read into a buffer we own, at most its length.
            let n =
                unsafe { libc::read(self.read.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            match usize::try_from(n) {
                Ok(0) => break,
                Ok(n) => self.partial.extend_from_slice(&buf[..n]),
                Err(_)
                    if std::io::Error::last_os_error().kind()
                        == std::io::ErrorKind::Interrupted =>
                {
                    continue
                }
                Err(_) => break,
            }
        }
        while let Some(end) = self.partial.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=end).collect();
            self.push(&line[..line.len() - 1], in_init);
        }
        if self.partial.len() > MAX_LINE {
            let line = std::mem::take(&mut self.partial);
            self.push(&line, in_init);
        }
    }

    /// Drains, and keeps a last line that has no newline: the process is gone.
    pub fn finish(&mut self, in_init: bool) {
        self.drain(in_init);
        if !self.partial.is_empty() {
            let line = std::mem::take(&mut self.partial);
            self.push(&line, in_init);
        }
    }

    fn push(&mut self, line: &[u8], in_init: bool) {
        let text = String::from_utf8_lossy(line)
            .trim_end_matches('\r')
            .to_string();
        let line = LogLine {
            at: SystemTime::now(),
            text,
        };
        if in_init {
            self.init.push(line);
        } else {
            self.lines.push(line);
        }
    }

    /// The init's lines and the invocation's, taken.
    pub fn take(&mut self) -> (Vec<LogLine>, Vec<LogLine>) {
        (
            std::mem::take(&mut self.init),
            std::mem::take(&mut self.lines),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn lines_are_split_and_sorted_into_their_phase() {
        let (mut capture, write) = Capture::open().unwrap_or_else(|e| panic!("{e}"));
        let mut w = std::fs::File::from(write);
        w.write_all(b"init line\npart")
            .unwrap_or_else(|e| panic!("{e}"));
        capture.drain(true);
        w.write_all(b"ial\nsecond\r\n")
            .unwrap_or_else(|e| panic!("{e}"));
        capture.drain(false);
        w.write_all(b"no newline").unwrap_or_else(|e| panic!("{e}"));
        capture.finish(false);
        let (init, lines) = capture.take();
        let text = |v: &[LogLine]| v.iter().map(|l| l.text.clone()).collect::<Vec<_>>();
        assert_eq!(text(&init), ["init line"]);
        assert_eq!(text(&lines), ["partial", "second", "no newline"]);
        assert_eq!(capture.take(), (Vec::new(), Vec::new()));
    }
}
