// The Mini App's first page: Telegram passes its signed initData in the address's fragment
// (#tgWebAppData=...). Kept in a cookie, it goes with every request of the desk, where the
// server checks its signature and age; then the desk opens.
(function () {
  var fragment = new URLSearchParams(window.location.hash.slice(1));
  var initData = fragment.get("tgWebAppData") ||
    (window.Telegram && window.Telegram.WebApp && window.Telegram.WebApp.initData) || "";
  var note = document.getElementById("miniapp");
  if (!initData) { note.textContent = note.getAttribute("data-missing"); return; }
  var secure = window.location.protocol === "https:" ? "; Secure" : "";
  document.cookie = "baocao_tma=" + encodeURIComponent(initData) +
    "; path=/desk; SameSite=Strict" + secure;
  window.location.replace("/desk/");
})();
