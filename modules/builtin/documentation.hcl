# Documentation: every Debian package is unpacked into a main store path
# and, when it has any, a NAME-VERSION-doc path holding usr/share/doc
# (all but each package's copyright, which stays with the binaries),
# usr/share/man, usr/share/info and the message catalogs of
# usr/share/locale. Only this option puts the latter into /usr.

option "documentation.enable" {
  type        = bool
  default     = false
  description = "Put the packages' documentation (usr/share/doc, man, info and the message catalogs in usr/share/locale) into /usr. Off, only each package's copyright file ships. Manual pages need pkgs.man-db in packages too."
  example     = true
}
