; Inno Setup 6 script for BrainLens on Windows (x64). UNTESTED: written on Linux, never compiled here.
;
; Build on Windows with installer\windows\build.ps1, which runs `python -m installer.build` (the
; PyInstaller one-folder bundle in dist\brainlens\, with THIRD_PARTY_LICENSES.txt), downloads the
; Microsoft Visual C++ 2015-2022 x64 redistributable that ONNX Runtime needs into
; installer\windows\redist\, and calls ISCC with /DAppVersion=<version from pyproject.toml>.
; Output: dist\BrainLens-<version>-setup.exe

#ifndef AppVersion
  #define AppVersion "0.1.0"
#endif
#define Repo "..\.."

[Setup]
AppId={{6B1D7C1E-4F0A-4E57-9B1C-2F6A0B7D9E31}
AppName=BrainLens
AppVersion={#AppVersion}
AppVerName=BrainLens {#AppVersion}
AppPublisher=BrainLens maintainers
DefaultDirName={autopf}\BrainLens
DefaultGroupName=BrainLens
DisableProgramGroupPage=yes
ArchitecturesAllowed=x64compatible
ArchitecturesInstallIn64BitMode=x64compatible
; Admin rights: the VC++ runtime is installed system-wide.
PrivilegesRequired=admin
OutputDir={#Repo}\dist
OutputBaseFilename=BrainLens-{#AppVersion}-setup
SetupIconFile={#Repo}\resources\icons\brainlens.ico
UninstallDisplayIcon={app}\brainlens.exe
InfoBeforeFile=before_install.txt
Compression=lzma2/max
SolidCompression=yes
WizardStyle=modern
ChangesAssociations=yes

[Tasks]
Name: "desktopicon"; Description: "{cm:CreateDesktopIcon}"; GroupDescription: "{cm:AdditionalIcons}"; Flags: unchecked

[Files]
Source: "{#Repo}\dist\brainlens\*"; DestDir: "{app}"; Flags: ignoreversion recursesubdirs createallsubdirs
Source: "redist\vc_redist.x64.exe"; DestDir: "{tmp}"; Flags: deleteafterinstall; Check: VCRedistNeedsInstall

[Icons]
Name: "{group}\BrainLens"; Filename: "{app}\brainlens.exe"
Name: "{group}\Third-party licences"; Filename: "{app}\THIRD_PARTY_LICENSES.txt"
Name: "{group}\{cm:UninstallProgram,BrainLens}"; Filename: "{uninstallexe}"
Name: "{autodesktop}\BrainLens"; Filename: "{app}\brainlens.exe"; Tasks: desktopicon

[Registry]
; "Open with BrainLens" for .dcm files, without taking over the default viewer.
Root: HKA; Subkey: "Software\Classes\.dcm\OpenWithProgids"; ValueType: string; ValueName: "BrainLens.dcm"; ValueData: ""; Flags: uninsdeletevalue
Root: HKA; Subkey: "Software\Classes\BrainLens.dcm"; ValueType: string; ValueName: ""; ValueData: "DICOM image"; Flags: uninsdeletekey
Root: HKA; Subkey: "Software\Classes\BrainLens.dcm\DefaultIcon"; ValueType: string; ValueName: ""; ValueData: "{app}\brainlens.exe,0"
Root: HKA; Subkey: "Software\Classes\BrainLens.dcm\shell\open\command"; ValueType: string; ValueName: ""; ValueData: """{app}\brainlens.exe"" ""%1"""

[Run]
Filename: "{tmp}\vc_redist.x64.exe"; Parameters: "/install /quiet /norestart"; StatusMsg: "Installing the Microsoft Visual C++ runtime..."; Flags: waituntilterminated; Check: VCRedistNeedsInstall
Filename: "{app}\brainlens-cli.exe"; Parameters: "--self-test"; StatusMsg: "Checking the installation..."; Flags: runhidden waituntilterminated
Filename: "{app}\brainlens.exe"; Description: "{cm:LaunchProgram,BrainLens}"; Flags: nowait postinstall skipifsilent

[Code]
// ONNX Runtime needs the VC++ 2015-2022 runtime at least as new as the one it was built with
// (14.40 = Visual Studio 2022 17.10). The redistributable is skipped when one that new is present.
function VCRedistNeedsInstall: Boolean;
var
  Installed, Major, Minor: Cardinal;
begin
  Result := True;
  if RegQueryDWordValue(HKLM64, 'SOFTWARE\Microsoft\VisualStudio\14.0\VC\Runtimes\x64', 'Installed', Installed) and (Installed = 1) and
     RegQueryDWordValue(HKLM64, 'SOFTWARE\Microsoft\VisualStudio\14.0\VC\Runtimes\x64', 'Major', Major) and
     RegQueryDWordValue(HKLM64, 'SOFTWARE\Microsoft\VisualStudio\14.0\VC\Runtimes\x64', 'Minor', Minor) then
    Result := (Major < 14) or ((Major = 14) and (Minor < 40));
end;
