/* Presses Ctrl+C (or Ctrl+Break) at a Windows console program in the middle of its answer,
 * the way a user at the console would: scripts/windows-cross.sh uses it to check, under
 * wine, that Ctrl+C stops `ingot model run`'s answer and not the program.
 *
 *   ctrl-event.exe c|break MIN_BYTES "COMMAND LINE" "STDIN BEFORE" "STDIN AFTER"
 *
 * Starts COMMAND LINE with pipes for its stdin and stdout (stderr is ours), writes STDIN
 * BEFORE, copies its stdout to ours, and once MIN_BYTES of it have come sends the event with
 * GenerateConsoleCtrlEvent. Then writes STDIN AFTER, closes its stdin, copies the rest, and
 * exits with the program's exit code (100 + n when the helper itself failed). "\n" in the
 * two stdin texts is a newline.
 *
 * The event goes to every process on the console (group 0), as a key press does, this helper
 * included, which handles it itself (a handler returning TRUE; not SetConsoleCtrlHandler(NULL,
 * TRUE), whose "ignore Ctrl+C" flag the child would inherit). Sending CTRL_BREAK_EVENT to
 * the child's own group instead (CREATE_NEW_PROCESS_GROUP, group = its pid) fails under
 * wine 8 with ERROR_INVALID_HANDLE, and so does CTRL_BREAK_EVENT to group 0: there `break`
 * is for a real Windows, and windows-cross.sh sends `c`.
 *
 * Build: x86_64-w64-mingw32-gcc -O2 -s -o ctrl-event.exe ctrl-event.c */
#include <windows.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static BOOL WINAPI ignore_event(DWORD event) {
  (void)event;
  return TRUE;
}

/* The text with each two-character "\n" turned into a newline (in place). */
static char *unescape(char *s) {
  char *r = s, *w = s;
  while (*r) {
    if (r[0] == '\\' && r[1] == 'n') {
      *w++ = '\n';
      r += 2;
    } else {
      *w++ = *r++;
    }
  }
  *w = 0;
  return s;
}

static int write_all(HANDLE h, const char *s) {
  DWORD n = (DWORD)strlen(s), done = 0;
  while (done < n) {
    DWORD w = 0;
    if (!WriteFile(h, s + done, n - done, &w, NULL)) return 0;
    done += w;
  }
  return 1;
}

int main(int argc, char **argv) {
  if (argc != 6 || (strcmp(argv[1], "c") && strcmp(argv[1], "break"))) {
    fprintf(stderr, "usage: ctrl-event.exe c|break MIN_BYTES \"COMMAND\" \"STDIN BEFORE\" \"STDIN AFTER\"\n");
    return 100;
  }
  int use_break = !strcmp(argv[1], "break");
  long min_bytes = atol(argv[2]);
  char *before = unescape(argv[4]), *after = unescape(argv[5]);

  SECURITY_ATTRIBUTES sa = {sizeof sa, NULL, TRUE};
  HANDLE in_r, in_w, out_r, out_w;
  if (!CreatePipe(&in_r, &in_w, &sa, 0) || !CreatePipe(&out_r, &out_w, &sa, 0)) {
    fprintf(stderr, "ctrl-event: CreatePipe failed: %lu\n", GetLastError());
    return 101;
  }
  /* Our ends stay ours: the child must see EOF on stdin when we close it. */
  SetHandleInformation(in_w, HANDLE_FLAG_INHERIT, 0);
  SetHandleInformation(out_r, HANDLE_FLAG_INHERIT, 0);

  /* Started from a Unix shell, wine gives a program no console of its own, only a
   * placeholder ("Shell-no-window") that rejects control events: a real console (wine's
   * conhost, with no window here) is made for this helper, and the child shares it. */
  HANDLE err = GetStdHandle(STD_ERROR_HANDLE); /* AllocConsole replaces it */
  FreeConsole();
  if (!AllocConsole()) {
    fprintf(stderr, "ctrl-event: AllocConsole failed: %lu\n", GetLastError());
    return 107;
  }
  SetStdHandle(STD_ERROR_HANDLE, err);
  if (!SetConsoleCtrlHandler(ignore_event, TRUE)) {
    fprintf(stderr, "ctrl-event: SetConsoleCtrlHandler failed: %lu\n", GetLastError());
    return 102;
  }
  STARTUPINFOA si;
  memset(&si, 0, sizeof si);
  si.cb = sizeof si;
  si.dwFlags = STARTF_USESTDHANDLES;
  si.hStdInput = in_r;
  si.hStdOutput = out_w;
  si.hStdError = err;
  PROCESS_INFORMATION pi;
  if (!CreateProcessA(NULL, argv[3], NULL, NULL, TRUE, 0, NULL, NULL, &si, &pi)) {
    fprintf(stderr, "ctrl-event: cannot start %s: %lu\n", argv[3], GetLastError());
    return 103;
  }
  CloseHandle(in_r);
  CloseHandle(out_w);
  fprintf(stderr, "ctrl-event: started pid %lu (console window %p)\n", pi.dwProcessId,
          (void *)GetConsoleWindow());
  if (!write_all(in_w, before)) fprintf(stderr, "ctrl-event: writing stdin failed\n");

  long seen = 0;
  int sent = 0;
  char buf[4096];
  DWORD n;
  while (ReadFile(out_r, buf, sizeof buf, &n, NULL) && n > 0) {
    fwrite(buf, 1, n, stdout);
    fflush(stdout);
    seen += n;
    if (!sent && seen >= min_bytes) {
      sent = 1;
      DWORD event = use_break ? CTRL_BREAK_EVENT : CTRL_C_EVENT;
      if (GenerateConsoleCtrlEvent(event, 0)) {
        fprintf(stderr, "\nctrl-event: sent %s after %ld bytes of output\n",
                use_break ? "CTRL_BREAK_EVENT" : "CTRL_C_EVENT", seen);
      } else {
        fprintf(stderr, "\nctrl-event: GenerateConsoleCtrlEvent failed: %lu\n", GetLastError());
        TerminateProcess(pi.hProcess, 1);
        return 104;
      }
      if (!write_all(in_w, after)) fprintf(stderr, "ctrl-event: writing stdin failed\n");
      CloseHandle(in_w);
      in_w = NULL;
    }
  }
  if (in_w) CloseHandle(in_w);
  if (WaitForSingleObject(pi.hProcess, 120000) != WAIT_OBJECT_0) {
    fprintf(stderr, "ctrl-event: the program did not exit within 120 s\n");
    TerminateProcess(pi.hProcess, 1);
    return 105;
  }
  DWORD code = 0;
  GetExitCodeProcess(pi.hProcess, &code);
  fprintf(stderr, "ctrl-event: %s; exit code %lu\n", sent ? "event sent" : "output ended before the event", code);
  return sent ? (int)code : 106;
}
