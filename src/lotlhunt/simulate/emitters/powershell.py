"""PowerShell logs: engine start and stop (400/403), pipelines (800) in Windows
PowerShell; script blocks (4104) and module logging (4103) in PowerShell/Operational."""

from __future__ import annotations

from collections.abc import Sequence

from lotlhunt.simulate.host import HostBase, Proc, PsCtx
from lotlhunt.simulate.templates import T400, T403, T800, T4103, T4104, T4104W, Template


class PowerShellEvents(HostBase):
    """What PowerShell logs on a host (script-block logging only where it is turned on)."""

    def ps_open(self, ts: int, proc: Proc, host_name: str = "ConsoleHost") -> PsCtx:
        ctx = PsCtx(proc, host_name, self.guid(), self.guid())
        self._ps_engine(ts, ctx, T400, "Available", "None")
        return ctx

    def ps_close(self, ts: int, ctx: PsCtx) -> None:
        self._ps_engine(ts, ctx, T403, "Stopped", "Available")

    def _ps_common(self, ctx: PsCtx) -> str:
        v = f"5.1.{self.build[5:]}.5329"
        return (
            f"\tHostName={ctx.host_name}\r\n\tHostVersion={v}\r\n\tHostId={ctx.host_id}\r\n"
            f"\tHostApplication={ctx.proc.cmd}\r\n\tEngineVersion={v}\r\n"
            f"\tRunspaceId={ctx.runspace}\r\n"
        )

    def _ps_engine(self, ts: int, ctx: PsCtx, tpl: Template, new: str, prev: str) -> None:
        ctx.seq += 1
        details = (
            f"\tNewEngineState={new}\r\n\tPreviousEngineState={prev}\r\n\r\n"
            f"\tSequenceNumber={ctx.seq}\r\n\r\n"
            + self._ps_common(ctx)
            + "\tPipelineId=\r\n\tCommandName=\r\n\tCommandType=\r\n\tScriptName=\r\n"
            "\tCommandPath=\r\n\tCommandLine="
        )
        self.emit(ts, tpl, (new, prev, details), 0)

    def ps_command(
        self,
        ts: int,
        ctx: PsCtx,
        text: str,
        cmdlets: Sequence[tuple[str, dict[str, str]]] = (),
        warning: bool = False,
        path: str = "",
    ) -> None:
        """A script block (4104) and, for each cmdlet, module logging (4103) and pipeline (800)."""
        if not self.host.ps_logging:
            return
        acct = ctx.proc.logon.acct
        self.emit(
            ts,
            T4104W if warning else T4104,
            {
                "MessageNumber": "1",
                "MessageTotal": "1",
                "ScriptBlockText": text,
                "ScriptBlockId": self.guid(),
                "Path": path,
            },
            ctx.proc.pid,
            acct.sid,
        )
        for i, (name, params) in enumerate(cmdlets):
            ctx.seq += 1
            payload = f'CommandInvocation({name}): "{name}"\r\n' + "".join(
                f'ParameterBinding({name}): name="{k}"; value="{v}"\r\n' for k, v in params.items()
            )
            info = "".join(
                f"        {k} = {v}\r\n"
                for k, v in (
                    ("Severity", "Informational"),
                    ("Host Name", ctx.host_name),
                    ("Host Application", ctx.proc.cmd),
                    ("Command Name", name),
                    ("Command Type", "Cmdlet"),
                    ("Sequence Number", ctx.seq),
                    ("User", acct.qualified),
                    ("Shell ID", "Microsoft.PowerShell"),
                )
            )
            t = ts + 900 * (i + 1)
            self.emit(
                t,
                T4103,
                {"ContextInfo": info, "UserData": "", "Payload": payload},
                ctx.proc.pid,
                acct.sid,
            )
            details = (
                f"\tDetailSequence=1\r\n\tDetailTotal=1\r\n\r\n"
                f"\tSequenceNumber={ctx.seq}\r\n\r\n\tUserId={acct.qualified}\r\n"
                + self._ps_common(ctx)
                + f"\tPipelineId={ctx.seq // 2}\r\n"
                f"\tCommandName={name}\r\n\tCommandType=Cmdlet\r\n"
                f"\tScriptName={path}\r\n\tCommandPath=\r\n\tCommandLine={text}"
            )
            self.emit(t + 40, T800, (text, details, payload), 0)
