<#
.SYNOPSIS
  Likavillkor agent: scripted install on one Windows PC (deploy/windows/README.md).

.DESCRIPTION
  Installs the agent for one device, from that device's bundle made on the collector's server by
    likavillkor-collector broker-credentials ... --windows-bundles DIR [--bundle-ca ca.crt]
  (DIR\<device id>\agent.toml: the device's complete agent config with Windows paths, and ca.crt
  when the devices do not trust the municipality's internal CA). Run elevated, e.g. from Intune or
  Configuration Manager, once per PC with that PC's bundle; run again to upgrade or to replace the
  bundle (a rotated password). Nothing needs to be merged by hand.

  1. Python virtual environment in C:\Program Files\Likavillkor\venv, the agent from -Wheelhouse
     (offline, the wheels IT built) or from the package index.
  2. C:\ProgramData\Likavillkor: agent.toml (and ca.crt) from the bundle. agent.toml holds the
     device's broker password: its ACL is reset (no inheritance) to the member (-Member, read),
     SYSTEM and Administrators (full); no other local user can read it. state\ (the outbox) and
     logs\ are SYSTEM and Administrators only.
  3. The Windows service "LikavillkorAgent" through WinSW (-WinSW: the WinSW-x64.exe that IT
     keeps on its share), started automatically, restarted on failure, its output in
     C:\ProgramData\Likavillkor\logs\ (rolled by size).
  4. One self-test as a check; its result is printed (in Swedish).

  -Uninstall removes the service, the virtual environment and C:\ProgramData\Likavillkor.

.EXAMPLE
  .\install-agent.ps1 -Bundle \\fil01\likavillkor\bundles\ks-ipad-07 -Member KOMMUN\anna.andersson `
      -WinSW \\fil01\likavillkor\WinSW-x64.exe -Wheelhouse \\fil01\likavillkor\wheels
#>
[CmdletBinding()]
param(
    [Parameter(Mandatory = $true, ParameterSetName = "Install")]
    [string] $Bundle,
    [Parameter(Mandatory = $true, ParameterSetName = "Install")]
    [string] $Member,
    [Parameter(Mandatory = $true, ParameterSetName = "Install")]
    [string] $WinSW,
    [Parameter(ParameterSetName = "Install")]
    [string] $Wheelhouse = "",
    [Parameter(ParameterSetName = "Install")]
    [string] $PythonLauncher = "py",
    [Parameter(ParameterSetName = "Install")]
    [string] $PythonVersion = "-3.11",
    [Parameter(Mandatory = $true, ParameterSetName = "Uninstall")]
    [switch] $Uninstall
)

$ErrorActionPreference = "Stop"
Set-StrictMode -Version 3

$Program = "C:\Program Files\Likavillkor"
$Data = "C:\ProgramData\Likavillkor"
$Venv = Join-Path $Program "venv"
$ServiceId = "LikavillkorAgent"
$ServiceExe = Join-Path $Program "$ServiceId.exe"
# Well-known SIDs, so that the script works on every language of Windows
$System = "*S-1-5-18"
$Admins = "*S-1-5-32-544"

function Invoke-Checked {
    param([string] $What, [scriptblock] $Command)
    & $Command
    if ($LASTEXITCODE -ne 0) { throw "$What failed (exit $LASTEXITCODE)" }
}

function Set-PrivateAcl {
    # Reset the ACL: no inherited entries, only the given grants (icacls /grant:r replaces)
    param([string] $Path, [string[]] $Grants)
    Invoke-Checked "icacls $Path" { icacls $Path /inheritance:r /grant:r @Grants | Out-Null }
}

if ($Uninstall) {
    if (Test-Path $ServiceExe) {
        & $ServiceExe stop | Out-Null
        Invoke-Checked "uninstall the service" { & $ServiceExe uninstall }
    }
    Remove-Item -Recurse -Force -ErrorAction SilentlyContinue $Program, $Data
    Write-Host "Likavillkor agent removed."
    return
}

$bundleToml = Join-Path $Bundle "agent.toml"
if (-not (Test-Path $bundleToml)) { throw "$bundleToml is missing: make the bundles with broker-credentials --windows-bundles" }
if (-not (Test-Path $WinSW)) { throw "$WinSW is missing: WinSW-x64.exe, the service wrapper" }
# the member must exist (a typo would leave the file unreadable for them)
$null = (New-Object System.Security.Principal.NTAccount($Member)).Translate([System.Security.Principal.SecurityIdentifier])

# 1. Python and the agent
New-Item -ItemType Directory -Force $Program | Out-Null
if (-not (Test-Path (Join-Path $Venv "Scripts\python.exe"))) {
    Invoke-Checked "python -m venv" { & $PythonLauncher $PythonVersion -m venv $Venv }
}
$py = Join-Path $Venv "Scripts\python.exe"
if ($Wheelhouse) {
    Invoke-Checked "pip install (offline)" { & $py -m pip install --upgrade --no-index --find-links $Wheelhouse "likavillkor[agent]" }
} else {
    Invoke-Checked "pip install" { & $py -m pip install --upgrade "likavillkor[agent]" }
}

# 2. The device's files, readable by the member, SYSTEM and Administrators only
New-Item -ItemType Directory -Force $Data, (Join-Path $Data "state"), (Join-Path $Data "logs") | Out-Null
Set-PrivateAcl $Data @("${System}:(OI)(CI)F", "${Admins}:(OI)(CI)F", "${Member}:(RX)")
Set-PrivateAcl (Join-Path $Data "state") @("${System}:(OI)(CI)F", "${Admins}:(OI)(CI)F")
Set-PrivateAcl (Join-Path $Data "logs") @("${System}:(OI)(CI)F", "${Admins}:(OI)(CI)F")
$conf = Join-Path $Data "agent.toml"
Copy-Item -Force $bundleToml $conf
Set-PrivateAcl $conf @("${System}:F", "${Admins}:F", "${Member}:R")
$bundleCa = Join-Path $Bundle "ca.crt"
if (Test-Path $bundleCa) {
    Copy-Item -Force $bundleCa (Join-Path $Data "ca.crt")
    Set-PrivateAcl (Join-Path $Data "ca.crt") @("${System}:F", "${Admins}:F", "${Member}:R")
}

# 3. The service (WinSW): automatic start, restart on failure, a log file rolled by size
if (Test-Path $ServiceExe) {
    & $ServiceExe stop | Out-Null
    Invoke-Checked "uninstall the old service" { & $ServiceExe uninstall }
}
Copy-Item -Force $WinSW $ServiceExe
$xml = @"
<service>
  <id>$ServiceId</id>
  <name>Likavillkor agent</name>
  <description>Likavillkor: self-test before meetings (H8) and quality reports during them</description>
  <executable>$py</executable>
  <arguments>-m agent run --config "$conf"</arguments>
  <startmode>Automatic</startmode>
  <delayedAutoStart>true</delayedAutoStart>
  <onfailure action="restart" delay="5 sec"/>
  <resetfailure>1 hour</resetfailure>
  <logpath>$Data\logs</logpath>
  <log mode="roll-by-size">
    <sizeThreshold>10240</sizeThreshold>
    <keepFiles>5</keepFiles>
  </log>
</service>
"@
Set-Content -Encoding UTF8 -Path (Join-Path $Program "$ServiceId.xml") -Value $xml
Invoke-Checked "install the service" { & $ServiceExe install }
Invoke-Checked "start the service" { & $ServiceExe start }

# 4. A self-test as a check (exit 0 passed, 1 warnings, 2 failure, 3 configuration error)
& (Join-Path $Venv "Scripts\likavillkor-agent.exe") selftest --config $conf
$selftest = $LASTEXITCODE
if ($selftest -eq 3) { throw "the agent's configuration is not valid: see the message above" }
Write-Host "Likavillkor agent installed as service $ServiceId (self-test exit $selftest); log: $Data\logs"
